"""The administration pages' forms (Flask-WTF: each carries a CSRF token).

They check the shape of what is typed; the rules (a unique e-mail, a password
long enough, a phone number that parses) are the services' (app/services/staff.py,
app/services/focal_points.py), shared with the command line.
"""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from app.labels import ROLES
from app.services.staff import PASSWORD_MAX_LENGTH


class AccessForm(FlaskForm):
    """Role and services: what an account may see and do."""

    role = SelectField(
        _l("Role"),
        choices=[SelectChoice(value, words) for value, words in ROLES.items()],
        validators=[DataRequired()],
    )
    services = SelectMultipleField(_l("Services"), coerce=int)

    def __init__(self, service_choices: list[tuple[int, str]], **kwargs) -> None:
        super().__init__(**kwargs)
        self.services.choices = [
            SelectChoice(value, words) for value, words in service_choices
        ]


class NewUserForm(AccessForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    name = StringField(_l("Name"), validators=[Optional(), Length(max=120)])
    password = PasswordField(
        _l("Initial password"),
        validators=[Optional(), Length(max=PASSWORD_MAX_LENGTH)],
        description=_l(
            "At least 8 characters. Leave it empty and one is made for you, shown once."
        ),
    )


class ActionForm(FlaskForm):
    """A button that only needs its CSRF token (disable, reset, unlock)."""


class ServiceForm(FlaskForm):
    key = StringField(
        _l("Key"),
        validators=[DataRequired(), Length(max=64)],
        description=_l("Lower-case letters, digits and _ (such as pensions)."),
    )
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])


class FocalPointForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=32)])
    email = EmailField(_l("E-mail"), validators=[Optional(), Length(max=254)])
    head = BooleanField(_l("Head of the service (told of escalations)"))
