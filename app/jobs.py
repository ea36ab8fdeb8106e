"""RQ job functions: module-level, typed, given ids, reloading their rows.

The outbox row owns a text's attempts, not RQ: each failure writes when the
next try is due (exponential back-off with jitter, never before Twilio's
Retry-After) and the job for it is scheduled then; the periodic flush sends
only due rows, so neither it nor a duplicate job undoes the back-off.
"""

import logging
import random
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from requests.exceptions import RequestException
from rq import Callback
from sqlalchemy import or_, select, update
from twilio.base.exceptions import TwilioRestException

from app.extensions import db
from app.mailer import MailRefused, send_email
from app.models import Caller, Message, Ticket
from app.models.types import utcnow
from app.queue import enqueue
from app.telephony import SentMessage

log = logging.getLogger(__name__)

OPTED_OUT = 21610  # Twilio: the recipient replied STOP; never retried
MAX_DELAY = timedelta(hours=1)


def claim_lease() -> timedelta:
    """A job holding a text longer than this has died (longer than JOB_TIMEOUT)."""
    return timedelta(seconds=current_app.config["SMS_CLAIM_LEASE_SECONDS"])


def _is_retryable(error: TwilioRestException) -> bool:
    return error.status == 429 or error.status >= 500


def _status_callback_url(message_id: int) -> str | None:
    # Twilio needs an absolute URL, so status callbacks need PUBLIC_BASE_URL. Our
    # id rides along: a callback can name the row even before its SID is saved.
    base = current_app.config.get("PUBLIC_BASE_URL")
    return f"{base.rstrip('/')}/sms/status?m={message_id}" if base else None


@dataclass(frozen=True)
class Claim:
    """This job holds the message; `since` is set when a dead job held it before
    (it may have left then: Twilio is asked before sending)."""

    since: datetime | None


def _due(now: datetime):
    return (
        Message.message_sid.is_(None),
        or_(Message.send_after.is_(None), Message.send_after <= now),
        or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
    )


def _claim(message_id: int) -> Claim | None:
    """Take the message for this job; None if it is sent, taken or not due yet.

    One conditional UPDATE decides (compare-and-set on the claim read just
    before), so a retry, a flush and a duplicate job never send twice.
    """
    now = utcnow()
    before = db.session.execute(
        select(Message.status, Message.claimed_at).where(Message.id == message_id)
    ).one_or_none()
    if before is None:
        return None
    if before.status == "queued":
        taking = Message.status == "queued"
    elif before.status == "sending" and before.claimed_at is not None:
        if before.claimed_at > now - claim_lease():
            return None  # a live job holds it
        taking = (Message.status == "sending") & (
            Message.claimed_at == before.claimed_at
        )
    else:
        return None
    claimed = db.session.execute(
        update(Message)
        .where(Message.id == message_id, taking, *_due(now))
        .values(status="sending", claimed_at=now, updated_at=now)
    )
    db.session.commit()
    if claimed.rowcount != 1:
        return None
    return Claim(before.claimed_at if before.status == "sending" else None)


def _note(message: Message, action: str, **detail: object) -> None:
    if message.ticket_id is not None:
        ticket = db.session.get(Ticket, message.ticket_id)
        ticket.record(action, "system", message_id=message.id, **detail)


def _fail(message: Message, code: str) -> None:
    message.status = "failed"
    message.error_code = code
    message.next_attempt_at = None
    message.updated_at = utcnow()
    _note(message, "sms_failed", code=code, attempts=message.attempts)
    db.session.commit()


def backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    """How long after its `attempts`-th failure a text waits: doubling from
    SMS_RETRY_SECONDS, jittered (half to all of it, so a burst of 429s does not
    come back as one burst), capped at an hour, never below Retry-After."""
    base = current_app.config["SMS_RETRY_SECONDS"] * 2 ** max(attempts - 1, 0)
    delay = min(timedelta(seconds=base), MAX_DELAY) * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not a secret
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay


def _try_later(
    message: Message,
    error: str,
    retry_after: float | None = None,
    may_have_left: bool = False,
    counts: bool = True,
) -> None:
    """Record a failed attempt and when the next is due (or fail for good).

    A text that may have left (the answer never came) stays `sending` with a
    claim already stale: whoever takes it next asks Twilio before sending.
    """
    now = utcnow()
    if counts:
        message.attempts = (message.attempts or 0) + 1
    message.last_error = error[:200]
    if message.attempts >= current_app.config["SMS_MAX_ATTEMPTS"]:
        _fail(message, "retries_exhausted")
        return
    due = now + backoff(message.attempts, retry_after)
    message.next_attempt_at = due
    message.updated_at = now
    if may_have_left:
        message.status = "sending"
        message.claimed_at = now - claim_lease()
    else:
        message.status = "queued"
        message.claimed_at = None
    db.session.commit()
    log.warning("message %s: %s; next attempt at %s", message.id, error, due)
    schedule_send(message.id, due)


def _record_sent(message: Message, sent: SentMessage, found: bool = False) -> None:
    message.message_sid = sent.sid
    message.status = sent.status if sent.status in ("sent", "logged") else "sending"
    message.next_attempt_at = None
    message.last_error = None
    message.updated_at = utcnow()
    if not found:
        message.attempts = (message.attempts or 0) + 1
    action = "email_sent" if message.channel == "email" else "sms_sent"
    _note(message, action, sid=sent.sid, **({"found": True} if found else {}))
    db.session.commit()


def _unrecorded(candidates: list[SentMessage]) -> SentMessage | None:
    """The first of Twilio's matching messages that no row of ours owns yet (the
    same text may have gone to the same caller before, on its own row)."""
    sids = [sent.sid for sent in candidates if sent.sid]
    if not sids:
        return None
    known = set(
        db.session.scalars(
            select(Message.message_sid).where(Message.message_sid.in_(sids))
        )
    )
    return next((sent for sent in candidates if sent.sid not in known), None)


def send_message(message_id: int) -> None:
    """Send one due message, once. Failures are written on the row, never raised:
    the row says when to try again, and that try is scheduled."""
    claim = _claim(message_id)
    if claim is None:
        return
    message = db.session.get(Message, message_id)
    if message.channel == "email":
        _send_email(message)
        return
    caller = db.session.get(Caller, message.caller_id) if message.caller_id else None
    if caller is not None and caller.sms_opt_out:
        _fail(message, "opted_out")
        return
    gateway = current_app.extensions["twilio"]
    if claim.since is not None:
        # A job died holding it, perhaps after Twilio took it: ask first.
        try:
            found = _unrecorded(
                gateway.find_sent(
                    message.to_number, message.body, message.from_number, claim.since
                )
            )
        except (TwilioRestException, RequestException, OSError) as error:
            _try_later(
                message,
                f"could not ask Twilio: {type(error).__name__}",
                may_have_left=True,
                counts=False,
            )
            return
        if found is not None:
            _record_sent(message, found, found=True)
            return
    try:
        sent = gateway.send_sms(
            message.to_number,
            message.body,
            message.from_number,
            _status_callback_url(message.id),
        )
    except TwilioRestException as error:
        if _is_retryable(error):
            _try_later(
                message,
                f"Twilio answered {error.status} (code {error.code})",
                getattr(error, "retry_after", None),
            )
            return
        if error.code == OPTED_OUT and caller is not None:
            caller.sms_opt_out = True
        log.warning("message %s refused by Twilio (code %s)", message.id, error.code)
        message.attempts = (message.attempts or 0) + 1
        message.last_error = f"Twilio answered {error.status} (code {error.code})"
        _fail(message, str(error.code))
        return
    except (RequestException, OSError) as error:
        # The request may have reached Twilio before the answer was lost.
        _try_later(message, f"network: {type(error).__name__}", may_have_left=True)
        return
    _record_sent(message, sent)


def _send_email(message: Message) -> None:
    """An e-mail from the outbox. A job that died while sending may have sent
    it: SMTP cannot be asked, so it goes again (a duplicate e-mail, not a lost
    one)."""
    try:
        sent = send_email(message.to_number, message.subject or "", message.body)
    except MailRefused as refused:
        message.attempts = (message.attempts or 0) + 1
        message.last_error = str(refused)
        _fail(message, "refused")
        return
    except (smtplib.SMTPException, OSError) as error:
        _try_later(message, f"SMTP: {type(error).__name__}")
        return
    logged = sent == "logged"
    _record_sent(
        message, SentMessage(None if logged else sent, sent if logged else "sent")
    )


def schedule_send(message_id: int, at: datetime | None = None) -> bool:
    """Hand one message to a job (at `at`): no RQ retry, the row owns those."""
    return enqueue(
        send_message,
        message_id,
        queue="notify",
        at=at,
        retry=None,
        on_failure=Callback(mark_failed),
    )


def mark_failed(job, connection, error_type, error, traceback) -> None:
    """RQ failure callback: the job itself broke (a time-out, a lost database).

    The text may have left: it becomes an attempt whose successor asks Twilio
    first; after the last attempt the failure goes on the ticket.
    """
    # The job's own transaction may have died with it (a time-out mid-query).
    db.session.rollback()
    message = db.session.get(Message, job.args[0])
    if message is None or message.message_sid is not None:
        return
    if message.status == "sending":
        _try_later(message, f"job failed: {error_type.__name__}", may_have_left=True)
    elif (
        message.status == "queued"
        and (message.attempts or 0) >= current_app.config["SMS_MAX_ATTEMPTS"]
    ):
        _fail(message, "retries_exhausted")
