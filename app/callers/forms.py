"""The caller profile form: the rules of app.services.people, in the page's words."""

from collections.abc import Callable

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import ValidationError

from app.phone import to_e164
from app.services import people
from app.services.people import ProfileChange


def _cleaned(clean: Callable[[str], str | None], message: object):
    """A WTForms validator from a people.clean_* function; the cleaned value
    is kept on the field."""

    def check(form: FlaskForm, field: StringField) -> None:
        try:
            field.cleaned = clean(field.data or "")
        except ValueError:
            raise ValidationError(str(message)) from None

    return check


class ProfileForm(FlaskForm):
    name = StringField(
        _l("Name"),
        validators=[
            _cleaned(
                people.clean_name,
                _l("At most %(n)s characters, on one line.", n=people.MAX_NAME),
            )
        ],
    )
    matricule = StringField(
        _l("Civil-service number"),
        validators=[
            _cleaned(
                people.clean_matricule,
                _l(
                    "At most %(n)s letters, digits, spaces, '.', '/' or '-'.",
                    n=people.MAX_MATRICULE,
                ),
            )
        ],
    )
    email = StringField(
        _l("E-mail"),
        validators=[_cleaned(people.clean_email, _l("Not an e-mail address."))],
    )
    phones = TextAreaField(_l("Phone numbers (one per line)"))

    def __init__(self, region: str, number: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.region = region
        self.number = number  # the page's number: it stays the person's
        self.e164: list[str] = []

    def validate_phones(self, field: TextAreaField) -> None:
        numbers: list[str] = []
        for raw in (field.data or "").replace(",", "\n").splitlines():
            if not raw.strip():
                continue
            number = to_e164(raw.strip()[:32], self.region)
            if number is None:
                # gettext, not _l: a lazy string is markup to Jinja, and
                # what was typed must be escaped.
                raise ValidationError(
                    gettext("%(raw)s is not a phone number.", raw=raw.strip()[:32])
                )
            if number not in numbers:
                numbers.append(number)
        if self.number not in numbers:
            raise ValidationError(
                gettext("Keep %(phone)s: this page is its caller's.", phone=self.number)
            )
        if len(numbers) > people.MAX_PHONES:
            raise ValidationError(_l("At most %(n)s numbers.", n=people.MAX_PHONES))
        self.e164 = numbers

    def change(self) -> ProfileChange:
        """What a valid form asks, as PATCH /api/callers/<phone> would."""
        return ProfileChange(
            fields={name: self[name].cleaned for name in people.PROFILE_FIELDS},
            phones=self.e164,
        )
