"""What every package of the project shares and nothing else: the one shape of its errors, a memo for
costly results that depend only on their inputs, and YAML read with libyaml.

It imports nothing of the project, so every package, down to storage and intents, may use it.
"""
