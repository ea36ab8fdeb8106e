"""The staff's ticket list page."""
