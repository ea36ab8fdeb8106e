"""The IVR: menus as pure TwiML functions (menu.py) and voice webhooks (views.py)."""
