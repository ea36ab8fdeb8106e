"""The desk's form for a request that did not come by phone (CSRF via Flask-WTF)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError

from app.phone import to_e164


class NewRequestForm(FlaskForm):
    phone = StringField(_l("Phone"), validators=[DataRequired(), Length(max=32)])
    channel = SelectField(
        _l("Channel"),
        choices=[
            SelectChoice("counter", _l("Counter")),
            SelectChoice("email", _l("E-mail")),
            SelectChoice("web", _l("Web form")),
        ],
    )
    category = SelectField(_l("Category"), validators=[DataRequired()])
    description = TextAreaField(_l("Request"), validators=[Length(max=5000)])

    def __init__(
        self, region: str, categories: list[tuple[str, str]], **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.region = region
        # No category is chosen for the agent: a silent first option would file
        # requests in whatever category the list starts with.
        self.category.choices = [SelectChoice("", _l("Choose a category"))] + [
            SelectChoice(key, label) for key, label in categories
        ]
        self.e164: str | None = None

    def validate_phone(self, field: StringField) -> None:
        self.e164 = to_e164(field.data, self.region)
        if self.e164 is None:
            raise ValidationError(_l("Not a phone number."))
