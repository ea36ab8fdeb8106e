"""USSD for feature phones (CONTRACT §9.2), in the Africa's Talking convention."""
