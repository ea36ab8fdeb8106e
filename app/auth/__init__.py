"""Staff sign-in: Flask-Login sessions, lock-out after repeated failures."""
