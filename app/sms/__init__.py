"""Twilio's messaging webhooks: inbound SMS/WhatsApp and delivery statuses."""
