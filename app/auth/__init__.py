"""Staff sign-in: Flask-Login sessions, attempts throttled per address and account."""
