"""The caller page: a person, their profile, every ticket and call (issue #12)."""
