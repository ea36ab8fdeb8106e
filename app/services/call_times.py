"""How long a caller waited for an agent and talked with one (CONTRACT §10).

The instants come from the webhooks as they arrive; where Twilio reports a
duration itself (QueueTime when a caller leaves the queue, DialCallDuration when
the agent's leg ends) its figure wins over our clock, which also counts the
time the webhooks took. Each figure is kept once it is known: a repeated or
late callback never changes it.
"""

from datetime import datetime, timedelta

from app.models import Call
from app.models.types import utcnow


def _seconds(since: datetime, until: datetime) -> int:
    return max(0, round((until - since).total_seconds()))


def wanted_agent(call: Call) -> None:
    """The caller is being handed to an agent, or queued for one: the wait starts."""
    if call.wanted_agent_at is None:
        call.wanted_agent_at = utcnow()


def agent_answered(call: Call) -> None:
    if call.answered_at is not None:
        return
    call.answered_at = now = utcnow()
    call.wanted_agent_at = call.wanted_agent_at or now
    call.wait_seconds = _seconds(call.wanted_agent_at, now)


def left_queue_unanswered(call: Call, queue_time: int | None) -> None:
    """The caller hung up in the queue, after Twilio's `queue_time` seconds."""
    if call.answered_at is not None or call.wait_seconds is not None:
        return
    waited = _seconds(call.wanted_agent_at or utcnow(), utcnow())
    call.wait_seconds = max(waited, queue_time or 0)


def dial_completed(call: Call, reported: int | None) -> None:
    """Twilio says the <Dial> to an agent was answered and lasted `reported` s.

    The agent's leg callback normally said so first; if it never came, the
    answer is dated back from the talk's length, so the call still counts as
    answered, not as abandoned.
    """
    if call.answered_at is None:
        start = utcnow() - timedelta(seconds=reported or 0)
        call.wanted_agent_at = call.wanted_agent_at or start
        call.answered_at = max(start, call.wanted_agent_at)
        call.wait_seconds = _seconds(call.wanted_agent_at, call.answered_at)
    talk_ended(call, reported)


def talk_ended(call: Call, reported: int | None = None) -> None:
    """The agent's leg is over; `reported` is Twilio's own count of its seconds."""
    if call.answered_at is None:
        return
    if reported is not None:
        call.talk_seconds = reported
    elif call.talk_seconds is None:
        call.talk_seconds = _seconds(call.answered_at, utcnow())


def call_over(call: Call) -> None:
    """The call ended: whatever is still open is closed by its end."""
    end = call.ended_at or utcnow()
    if call.answered_at is not None and call.talk_seconds is None:
        call.talk_seconds = _seconds(call.answered_at, end)
    unanswered = call.answered_at is None and call.wait_seconds is None
    if unanswered and call.wanted_agent_at is not None:
        call.wait_seconds = _seconds(call.wanted_agent_at, end)
