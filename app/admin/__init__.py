"""Administration pages: staff accounts, services and their focal points, and
the configuration files shown read-only (admins only)."""
