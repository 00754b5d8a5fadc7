"""Volunteer teams and social organizations, with their members."""
