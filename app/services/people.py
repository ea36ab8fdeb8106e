"""Callers are people (CONTRACT §8.5): one profile, any number of phone numbers.

A Caller row is one phone number. The person's profile (name, e-mail,
matricule) lives on one of their numbers, the root; the person's other numbers
point at it with person_id, and the root's own person_id is None. Every number
points straight at its root, never through another number, so the person of a
number is one lookup.

Tickets, calls and messages keep the number they came from: nothing here ever
changes their caller_id. Joining numbers shows their histories together;
detaching one takes its own history back with it, and the status-by-reference
rule (only the filing phone hears a ticket's status) still knows which phone
filed what.
"""

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache

from sqlalchemy import ColumnElement, Select, bindparam, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from app.extensions import db
from app.models import Call, Caller, Ticket, User
from app.services.visibility import ticket_visible_to

log = logging.getLogger(__name__)

PROFILE_FIELDS = ("name", "email", "matricule")
# One person, several SIMs: a handful, not a directory.
MAX_PHONES = 10
MAX_NAME = 120  # callers.name
MAX_EMAIL = 254  # callers.email, and RFC 5321's limit on a path
MAX_MATRICULE = 32  # callers.matricule
# The key of the PostgreSQL advisory lock that lets one profile change run at
# a time (see lock_people); any constant will do.
PEOPLE_LOCK = 0x65636F75


class ProfileError(Exception):
    """A change refused; status and code are the API's."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def caller_for(phone_e164: str | None) -> Caller | None:
    """The caller with this number, created on first contact; None without a number."""
    if not phone_e164:
        return None
    caller = db.session.scalar(select(Caller).filter_by(phone_e164=phone_e164))
    if caller is not None:
        return caller
    caller = Caller(phone_e164=phone_e164)
    # Two webhooks of one new caller may race: the loser reads the winner's row.
    try:
        with db.session.begin_nested():
            db.session.add(caller)
    except IntegrityError:
        caller = db.session.scalar(select(Caller).filter_by(phone_e164=phone_e164))
    return caller


def fill_blanks(caller: Caller, name: str | None, email: str | None = None) -> Caller:
    """The person's profile (on their root number), given `name` and `email`
    only where it has none: whoever files from a phone, on the web or
    through a portal, cannot rename the person it belongs to."""
    root = caller
    if caller.person_id is not None:
        root = db.session.get_one(Caller, caller.person_id)
    root.name = root.name or name
    root.email = root.email or email
    return root


# --- who is one person -------------------------------------------------------------


def _in_person(root_id: int | ColumnElement[int]) -> ColumnElement[bool]:
    """A filter on Caller: the person's numbers, from the root's id, read on the
    callers' primary key and person_id index."""
    return or_(Caller.id == root_id, Caller.person_id == root_id)


def person_numbers(root_id: int | ColumnElement[int]) -> Select[tuple[int]]:
    """The ids of a person's numbers, from the root's id, for `caller_id IN (...)`."""
    return select(Caller.id).where(_in_person(root_id))


def _root_id(asked: ColumnElement[bool], number: type[Caller]) -> ColumnElement[int]:
    return (
        select(func.coalesce(number.person_id, number.id))
        .where(asked)
        .scalar_subquery()
    )


def numbers_of_phone(phone_e164: str) -> Select[tuple[int]]:
    """The ids of every number of the person who has this number (none if nobody)."""
    number = aliased(Caller)  # not the outer Caller of person_numbers
    return person_numbers(_root_id(number.phone_e164 == phone_e164, number))


def numbers_of_caller(caller_id: int) -> Select[tuple[int]]:
    """The ids of every number of the person this caller belongs to."""
    number = aliased(Caller)
    return person_numbers(_root_id(number.id == caller_id, number))


@dataclass(frozen=True)
class Person:
    """One person as seen from one of their numbers (`caller`)."""

    caller: Caller
    root: Caller  # holds the profile
    numbers: list[Caller]  # the root first, then the others, oldest first

    @property
    def ids(self) -> list[int]:
        return [number.id for number in self.numbers]

    @property
    def phones(self) -> list[str]:
        return [number.phone_e164 for number in self.numbers]

    @property
    def language(self) -> str | None:
        """The language this number last chose, else the person's."""
        return self.caller.language or self.root.language


@cache
def person_statement() -> Select[tuple[Caller]]:
    """Every number of the person of the number bound as `phone`: one query."""
    number = aliased(Caller)
    root_id = _root_id(number.phone_e164 == bindparam("phone"), number)
    return select(Caller).where(_in_person(root_id)).order_by(Caller.id)


def person_from(numbers: list[Caller], phone_e164: str) -> Person | None:
    """The Person of `phone_e164` from the rows person_statement() read."""
    caller = next((n for n in numbers if n.phone_e164 == phone_e164), None)
    if caller is None:
        return None
    root_id = caller.person_id or caller.id
    root = next(n for n in numbers if n.id == root_id)
    return Person(caller, root, [root, *(n for n in numbers if n is not root)])


def person_of(phone_e164: str) -> Person | None:
    """The person who has this number; None for a number the centre never met."""
    numbers = list(db.session.scalars(person_statement(), {"phone": phone_e164}))
    return person_from(numbers, phone_e164)


def may_see(viewer: User, person: Person) -> bool:
    """The rule of the history (app.services.visibility): supervisors and admins
    see everyone; an agent, a person with a ticket they see or a call they took."""
    if viewer.is_supervisor:
        return True
    ids = person.ids
    a_ticket = select(Ticket.id).where(
        Ticket.caller_id.in_(ids), ticket_visible_to(viewer.id)
    )
    a_call = select(Call.id).where(Call.caller_id.in_(ids), Call.agent_id == viewer.id)
    return bool(db.session.scalar(select(or_(a_ticket.exists(), a_call.exists()))))


# --- the profile's values ------------------------------------------------------------

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_EMAIL_LOCAL = re.compile(rf"{_ATOM}(\.{_ATOM})*")
_DOMAIN_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# ASCII letters and digits: a civil-service number, and a class the API's
# document can state as it is (\w is Unicode to Python, ASCII to JSON Schema).
MATRICULE_CHARS = "A-Za-z0-9_./ -"
_MATRICULE = re.compile(f"[{MATRICULE_CHARS}]+")


def _one_line(text: str) -> str:
    """Trimmed, runs of spaces made one; refuses control characters (a pasted
    tab, a NUL, a right-to-left override) that would garble a screen-pop."""
    text = " ".join(text.split())
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in text):
        raise ValueError("control characters are not accepted")
    return text


def clean_name(text: str) -> str | None:
    """The name as staff typed it, on one line; blank clears it."""
    name = _one_line(text)
    if len(name) > MAX_NAME:
        raise ValueError(f"at most {MAX_NAME} characters")
    return name or None


def clean_matricule(text: str) -> str | None:
    """A civil-service number: short, letters, digits, spaces, . / -."""
    matricule = _one_line(text)
    if not matricule:
        return None
    if len(matricule) > MAX_MATRICULE or not _MATRICULE.fullmatch(matricule):
        raise ValueError(
            f"at most {MAX_MATRICULE} letters, digits, spaces, '.', '/' or '-'"
        )
    return matricule


def clean_email(text: str) -> str | None:
    """An address mail can be sent to, domain in lower case; blank clears it.

    The shape only (RFC 5321's dot-atom local part, a domain of valid labels
    with a top-level domain of letters, accented domains through IDNA): no DNS
    look-up, which would make a counter's form hang on the network.
    """
    email = text.strip()
    if not email:
        return None
    local, at, domain = email.rpartition("@")
    if not at or len(email) > MAX_EMAIL or len(local) > 64:
        raise ValueError("not an e-mail address")
    if not _EMAIL_LOCAL.fullmatch(local):
        raise ValueError("not an e-mail address")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("not an e-mail address") from None
    labels = ascii_domain.split(".")
    top = labels[-1]
    if (
        len(labels) < 2
        or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels)
        or not (top.isalpha() or top.startswith("xn--"))
    ):
        raise ValueError("not an e-mail address")
    return f"{local}@{domain.lower()}"


# --- changing a profile ---------------------------------------------------------------


@dataclass
class ProfileChange:
    """What a PATCH asks: only the fields given (a None value clears one)."""

    fields: dict[str, str | None] = field(default_factory=dict)
    phones: list[str] | None = None  # E.164, in the order given


def lock_people() -> None:
    """Let one profile change run at a time (PostgreSQL; SQLite writes one at
    a time anyway). Two staff joining numbers of the same people at once could
    otherwise leave a number pointing at a number that moved meanwhile, or
    write a name on a number that stopped holding the profile; the lock is
    held until the commit, and staff edit profiles rarely."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(func.pg_advisory_xact_lock(PEOPLE_LOCK)))


def change_profile(person: Person, change: ProfileChange, actor: User) -> Person:
    """Apply a PATCH; call lock_people() before reading `person`, so that the
    root it writes to is still the root. Raises ProfileError on a change the
    rules refuse."""
    root = person.root
    if change.phones is not None:
        root = _set_phones(person, change.phones, actor)
    changed = [
        name for name, value in change.fields.items() if getattr(root, name) != value
    ]
    for name in changed:
        setattr(root, name, change.fields[name])
    db.session.flush()
    after = _person(person.caller.phone_e164)
    # Who changed which person, by ids and field names: no personal data in logs.
    log.info(
        "caller %s: profile changed by %s (fields: %s; numbers: %s -> %s)",
        after.root.id,
        actor.email,
        ", ".join(changed) or "none",
        person.ids,
        after.ids,
    )
    return after


def _set_phones(person: Person, phones: list[str], actor: User) -> Caller:
    """Make `phones` this person's numbers; returns the root afterwards.

    A number new to the centre becomes a caller; a number of another person
    moves here, and the root of another person brings all its numbers and
    fills the fields this profile lacks (its own values stay on its row, and
    come back if it is ever detached: nothing is silently lost). A number of
    this person left out is detached: its own person again.
    """
    asked = person.caller.phone_e164
    if asked not in phones:
        raise ProfileError(
            400, "invalid_phones", f"'phones' must keep {asked}, the number asked for"
        )
    if len(phones) > MAX_PHONES:
        raise ProfileError(
            400, "invalid_phones", f"'phones' holds at most {MAX_PHONES} numbers"
        )
    root = person.root
    if root.phone_e164 not in phones:
        # The number holding the profile leaves: the profile stays with the
        # person, on the number asked for (a value that number kept from a
        # profile of its own, before it joined, gives way to the person's).
        root = person.caller
        for name in PROFILE_FIELDS:
            setattr(root, name, getattr(person.root, name))
            setattr(person.root, name, None)
    for number in person.numbers:
        number.person_id = (
            root.id if number is not root and number.phone_e164 in phones else None
        )
    db.session.flush()
    mine = set(person.phones)
    for phone in phones:
        if phone not in mine:
            _join(phone, root, actor)
    return root


def _join(phone: str, root: Caller, actor: User) -> None:
    caller_for(phone)  # a number new to the centre becomes a caller
    other = _person(phone)
    if other.root.id == root.id:
        return  # it came along with a root that moved here
    if not (actor.is_supervisor or _bare(other) or may_see(actor, other)):
        # Joining it would show this person's name and numbers to the agent.
        raise ProfileError(
            403, "forbidden", f"{phone} belongs to a caller you may not see"
        )
    if other.caller is other.root:
        for number in other.numbers:
            number.person_id = root.id
        for name in PROFILE_FIELDS:
            if getattr(root, name) is None:
                setattr(root, name, getattr(other.root, name))
    else:
        other.caller.person_id = root.id
    db.session.flush()


def _person(phone_e164: str) -> Person:
    """The person of a number known to be there (just read, made or kept)."""
    person = person_of(phone_e164)
    if person is None:
        raise LookupError("a caller vanished in the middle of a change")
    return person


def _bare(person: Person) -> bool:
    """One number and no profile: joining it tells nobody anything."""
    return len(person.numbers) == 1 and all(
        getattr(person.root, name) is None for name in PROFILE_FIELDS
    )
