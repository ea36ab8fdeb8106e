"""The language of a public page: from its address alone (?lang=en), French
otherwise, never the session or the browser, so a cached page is right for
everyone who asks for it by that address (as stats/public.py does)."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import current_app, request
from flask_babel import force_locale


def page_language() -> str:
    asked = request.args.get("lang")
    if asked in current_app.config["LANGUAGES"]:
        return asked
    return current_app.config["BABEL_DEFAULT_LOCALE"]  # French


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
