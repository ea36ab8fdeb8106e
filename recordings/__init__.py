"""Recordings: Twilio's recording status callback, storage and playback."""
