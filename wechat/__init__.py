"""WeChat and WeChat Pay as the platform: one module per API group (push crypto, access tokens,
customer service, media, tags, subscribe messages, mini-program login, pay, pay notifications) and
one error type with WeChat's codes. It imports nothing of the project but `storage` (the token store).
"""
