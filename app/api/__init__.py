"""The JSON API of CONTRACT §6."""
