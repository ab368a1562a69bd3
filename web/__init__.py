"""HTTP plumbing the transports share (the webhooks, the mini-program API, the staff API): reading a
bounded request body, and the JSON APIs' error body and route class. It imports nothing of the project.
"""
