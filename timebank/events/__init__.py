"""Events, sign-ups, QR check-in and check-out, and the service records that credit hours."""
