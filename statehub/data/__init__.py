"""The data tools library: PostgreSQL work, evidence reports, the API checks.

Never prints: long steps report through a progress callback.
"""
