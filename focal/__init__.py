"""A focal point's page: one ticket, opened by a personal link, with no login
(CONTRACT §8.3)."""
