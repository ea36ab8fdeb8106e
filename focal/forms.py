"""The focal point's forms: one text each (CSRF via Flask-WTF)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

# As long as a note through the API (app.api.views.MAX_NOTE).
MAX_TEXT = 2000


class TextForm(FlaskForm):
    text = TextAreaField(
        _l("Text"),
        validators=[
            DataRequired(_l("Write something first.")),
            Length(max=MAX_TEXT),
        ],
    )
