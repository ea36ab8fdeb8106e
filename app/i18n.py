"""Which language the staff pages speak: the user's pick, else the browser's."""

from urllib.parse import urlencode

from flask import current_app, g, request, session


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    chosen = request.args.get("lang")
    if chosen in languages:
        session["lang"] = chosen
        return chosen
    if session.get("lang") in languages:
        return session["lang"]
    return request.accept_languages.best_match(languages) or languages[0]


def address_language() -> str:
    """A public page's language: from its address alone (?lang=en), French
    otherwise, never the session or the browser, so that a page a shared cache
    keeps is right for everyone who asks for it by that address."""
    asked = request.args.get("lang")
    if asked in current_app.config["LANGUAGES"]:
        return asked
    return current_app.config["BABEL_DEFAULT_LOCALE"]  # French


def this_page_in(lang: str) -> str:
    """This page's address in another language: same path, same filters."""
    args = request.args.to_dict(flat=False)
    args["lang"] = [lang]
    return f"{request.path}?{urlencode(args, doseq=True)}"


def forget_locale() -> None:
    """Each request picks its own language. Flask-Babel keeps the one it chose
    on `g`, which lives as long as the app context: one that serves several
    requests (the test client under a test's context) would keep the first."""
    g.pop("_flask_babel", None)
