"""The reference peers of bench/webhooks.py: bare Flask routes, none of Écoute.

    gunicorn --no-control-socket -w 4 -b 127.0.0.1:8001 bench.bare_app:app

POST /fixed   a fixed TwiML string: the floor of a Flask webhook under gunicorn.
POST /signed  what any Twilio webhook must do at least: check X-Twilio-Signature
              with twilio's RequestValidator (token from TWILIO_AUTH_TOKEN) and
              build the answer with twilio's VoiceResponse.
"""

import os

from flask import Flask, Response, abort, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

FIXED_TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Bonjour</Say></Response>'
)

app = Flask(__name__)
validator = RequestValidator(os.environ.get("TWILIO_AUTH_TOKEN", "bench-token"))


@app.post("/fixed")
def fixed() -> Response:
    return Response(FIXED_TWIML, mimetype="text/xml")


@app.post("/signed")
def signed() -> Response:
    signature = request.headers.get("X-Twilio-Signature", "")
    if not validator.validate(request.url, request.form, signature):
        abort(403)
    response = VoiceResponse()
    response.say("Bonjour", voice="Polly.Lea-Neural", language="fr-FR")
    return Response(str(response), mimetype="text/xml")
