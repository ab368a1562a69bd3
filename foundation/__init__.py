"""What every package of the project shares and nothing else: the one shape of its errors, a memo for
costly results that depend only on their inputs, YAML read with libyaml, and threads that run blocking
calls for asyncio code.

It imports nothing of the project, so the packages above it (intents, wechat and up) may use it.
"""
