"""The agents' browser softphone: page, tokens, presence, screen-pop events."""
