"""Shared foundations: database base, errors, security, API base, web hooks."""
