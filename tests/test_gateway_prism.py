"""TwilioGateway through twilio-python to Prism serving Twilio's OpenAPI description.

Prism answers with the spec's example Message (so the response never echoes what
was sent) and rejects, with 422, what the spec forbids.
"""

import pytest
from twilio.base.exceptions import TwilioRestException

from app.telephony import SentMessage, TwilioGateway
from tests.conftest import CALLER, LINE
from tests.prism import prism_url  # noqa: F401  (the fixture, used here by name)

ACCOUNT_SID = "AC" + "0" * 32  # Prism checks the path's SID pattern: AC + 32 hex
STATUS_CALLBACK = "https://ecoute.example.org/sms/status"


@pytest.fixture
def gateway(prism_url: str) -> TwilioGateway:  # noqa: F811
    return TwilioGateway(ACCOUNT_SID, "token", prism_url)


def test_send_sms_returns_the_message_prism_created(gateway: TwilioGateway) -> None:
    sent = gateway.send_sms(
        to=CALLER, body="Bonjour", from_=LINE, status_callback=STATUS_CALLBACK
    )

    assert isinstance(sent, SentMessage)
    assert sent.sid is not None
    assert sent.sid.startswith("SM")
    assert len(sent.sid) == 34
    assert sent.status


def test_a_request_the_spec_rejects_raises_twilio_rest_exception(
    gateway: TwilioGateway,
) -> None:
    # StatusCallback must be an absolute URI (format "uri"): Prism answers 422.
    with pytest.raises(TwilioRestException) as caught:
        gateway.send_sms(
            to=CALLER, body="Bonjour", from_=LINE, status_callback="/sms/status"
        )

    assert caught.value.status == 422
