"""The language of a public page: from its address alone (app.i18n's
address_language, which the public figures use too)."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import current_app
from flask_babel import force_locale

from app.i18n import address_language as page_language


def lang_arg() -> str | None:
    """The `lang` to carry in this page's links: none for French, the default."""
    language = page_language()
    return None if language == current_app.config["BABEL_DEFAULT_LOCALE"] else language


def in_page_language(view: Callable[..., Any]) -> Callable[..., Any]:
    """Run the view (validation messages included) in the address's language."""

    @wraps(view)
    def speaking(*args: Any, **kwargs: Any) -> Any:
        with force_locale(page_language()):
            return view(*args, **kwargs)

    return speaking
