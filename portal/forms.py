"""The public request form (Flask-WTF: CSRF, each field's error beside it)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField, TelField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError

from app.phone import to_e164
from app.services.people import MAX_EMAIL, MAX_NAME, clean_email, clean_name

MIN_DESCRIPTION = 10
MAX_DESCRIPTION = 5000


class PublicRequestForm(FlaskForm):
    category = SelectField(
        _l("What is it about?"),
        validators=[DataRequired(message=_l("Choose what your request is about."))],
    )
    description = TextAreaField(
        _l("Your request"),
        description=_l("Between 10 and 5,000 characters."),
        validators=[
            DataRequired(message=_l("Write your request.")),
            Length(
                max=MAX_DESCRIPTION,
                message=_l("Between 10 and 5,000 characters, please."),
            ),
        ],
    )
    phone = TelField(
        _l("Your phone number"),
        description=_l("We send you the reference and the answer by SMS."),
        validators=[Length(max=32, message=_l("Not a phone number."))],
    )
    email = EmailField(
        _l("Your e-mail address"),
        description=_l("Or by e-mail. Give a phone number, an e-mail, or both."),
        validators=[Length(max=MAX_EMAIL, message=_l("Not an e-mail address."))],
    )
    name = StringField(
        _l("Your name (optional)"),
        validators=[Length(max=MAX_NAME, message=_l("At most 120 characters."))],
    )

    def __init__(
        self, region: str, categories: list[tuple[str, str]], **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.region = region
        # Nothing is chosen for the citizen: a silent first option would file
        # every hurried request in whatever category the list starts with.
        self.category.choices = [SelectChoice("", _l("Choose…"))] + [
            SelectChoice(key, label) for key, label in categories
        ]
        self.e164: str | None = None
        self.clean_email: str | None = None
        self.clean_name: str | None = None

    def validate_description(self, field: TextAreaField) -> None:
        # Spaces alone are not a request: the length counts what is written.
        if field.errors:
            return  # too long already says so
        if len((field.data or "").strip()) < MIN_DESCRIPTION:
            raise ValidationError(_l("Between 10 and 5,000 characters, please."))

    def validate_phone(self, field: TelField) -> None:
        if (field.data or "").strip():
            self.e164 = to_e164(field.data, self.region)
            if self.e164 is None:
                raise ValidationError(_l("Not a phone number."))
        elif not (self.email.data or "").strip():
            raise ValidationError(_l("Give a phone number or an e-mail address."))

    def validate_email(self, field: EmailField) -> None:
        try:
            self.clean_email = clean_email(field.data or "")
        except ValueError:
            raise ValidationError(_l("Not an e-mail address.")) from None

    def validate_name(self, field: StringField) -> None:
        try:
            self.clean_name = clean_name(field.data or "")
        except ValueError:
            raise ValidationError(_l("Not a name we can keep.")) from None
