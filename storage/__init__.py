"""The database: declarative base, engines and sessions, transactions, group commit, dialect helpers, clock.

It imports nothing of the project.
"""
