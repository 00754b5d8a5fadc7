"""Volunteers: real-name profiles, verification, star levels and personal QR codes."""
