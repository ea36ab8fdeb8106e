"""The USSD menu, pure: the inputs of a session so far → its next screen.

Africa's Talking keeps no state for us: each request carries every input of
the session joined by `*`, so the menu is replayed from the start each time.
A wrong key leaves the menu where it was (with "Choix invalide"), so a session
with a mistake in it still reads as the same path with one more input.
What needs the database (a reference looked up, a request filed) comes back
as FollowUp or Filing for the view to act on; every screen it then shows is
built here too.
"""

from dataclasses import dataclass
from functools import cached_property

from ussd.texts import UssdTexts

# Africa's Talking documents the limit as 182 characters a screen, and counts
# characters, not bytes: it is what 160 octets of GSM 03.38 packed 7-bit text
# hold (160 x 8 / 7). A character outside GSM-7 (ê, ç, î, ô...) makes some
# networks send the screen as UCS-2, where far fewer fit: the shipped texts and
# categories keep to the accents GSM-7 has (é è à ù É), which tests/test_ussd.py
# checks. We count characters, "CON "/"END " included, and never go over.
MAX_SCREEN = 182
# More inputs than any path needs (3, and a key a page of categories turned)
# plus a few wrong keys: someone is lost.
MAX_INPUTS = 12
MORE_KEY = "0"  # next page of categories (or back to the first from the last)
ELLIPSIS = "..."  # GSM-7 has no "…"
PREFIX = len("CON ")


@dataclass(frozen=True)
class Screen:
    text: str
    more: bool  # CON: the session goes on; END: it is over

    @property
    def body(self) -> str:
        """The answer as Africa's Talking reads it, cut to fit if it ever must."""
        return ("CON " if self.more else "END ") + shorten(
            self.text, MAX_SCREEN - PREFIX
        )


@dataclass(frozen=True)
class FollowUp:
    """A reference was typed: the view looks it up for this phone."""

    typed: str


@dataclass(frozen=True)
class Filing:
    """A category was chosen and confirmed: the view files the request."""

    category: str


# Where a session stands after its inputs so far.
@dataclass(frozen=True)
class _Main:
    pass


@dataclass(frozen=True)
class _Reference:
    pass


@dataclass(frozen=True)
class _Categories:
    page: int


@dataclass(frozen=True)
class _Confirm:
    index: int  # into UssdMenu.categories


@dataclass(frozen=True)
class _Information:
    pass


@dataclass(frozen=True)
class _Cancelled:
    pass


_State = _Main | _Reference | _Categories | _Confirm
_Final = _Information | _Cancelled | FollowUp | Filing


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS


def inputs_of(text: str) -> list[str]:
    """The inputs of `text` as Africa's Talking joins them: "" is none yet.

    Split literally: a `*` typed inside an answer separates inputs too, as it
    does for Africa's Talking itself.
    """
    return text.split("*") if text else []


@dataclass(frozen=True)
class UssdMenu:
    """The menu in one language, with the line's categories and information."""

    texts: UssdTexts
    lang: str
    categories: tuple[tuple[str, str], ...]  # (key, label in `lang`)
    # Shown by option 3, most important first: what does not fit is left out.
    information: tuple[str, ...]

    def answer(self, inputs: list[str]) -> Screen | FollowUp | Filing:
        """The screen after these inputs, or what the view must do."""
        if len(inputs) > MAX_INPUTS + len(self._pages) - 1:
            return self.end("too_many")
        state: _State | _Final = _Main()
        invalid = False
        for key in inputs:
            if isinstance(state, _Final):
                # Inputs after an END: not a session Africa's Talking would send.
                return self.end("not_understood")
            state, invalid = self._step(state, key)
        return self._show(state, invalid)

    def _step(self, state: _State, key: str) -> tuple[_State | _Final, bool]:
        """The next state, and whether `key` was a wrong one (the state stays)."""
        match state:
            case _Main():
                chosen = {"1": _Reference(), "2": _Categories(0), "3": _Information()}
                return chosen.get(key, state), key not in chosen
            case _Reference():
                return FollowUp(key), False
            case _Categories(page):
                # Keys as typed, not int(): "²" and "٣" are digits to Python.
                on_page = {
                    str(digit): index
                    for digit, index in enumerate(self._pages[page], start=1)
                }
                if key in on_page:
                    return _Confirm(on_page[key]), False
                if key == MORE_KEY and len(self._pages) > 1:
                    return _Categories((page + 1) % len(self._pages)), False
                return state, True
            case _Confirm(index):
                if key == "1":
                    return Filing(self.categories[index][0]), False
                if key == "2":
                    return _Cancelled(), False
                return state, True

    def _show(
        self, state: _State | _Final, invalid: bool
    ) -> Screen | FollowUp | Filing:
        match state:
            case _Main():
                return self._con(self._text("main_menu"), invalid)
            case _Reference():
                return self._con(self._text("reference_prompt"), invalid)
            case _Categories(page):
                return self._con(self._category_page(page), invalid)
            case _Confirm(index):
                return self._con(self._confirmation(index), invalid)
            case _Information():
                return Screen(self._information(), more=False)
            case _Cancelled():
                return self.end("cancelled")
        return state

    # --- screens --------------------------------------------------------------

    def end(self, name: str) -> Screen:
        return Screen(self._text(name), more=False)

    def status(self, reference: str, status: str, date: str) -> Screen:
        text = self._text("status", reference=reference, status=status, date=date)
        return Screen(text, more=False)

    def unknown_reference(self) -> Screen:
        return self.end("reference_unknown")

    def filed(self, reference: str, by_sms: bool) -> Screen:
        name = "filed" if by_sms else "filed_no_sms"
        return Screen(self._text(name, reference=reference), more=False)

    def _text(self, name: str, **values: str) -> str:
        return self.texts.get(self.lang, name, **values)

    def _con(self, text: str, invalid: bool) -> Screen:
        return Screen(
            f"{self._text('invalid_choice')}\n{text}" if invalid else text, True
        )

    @cached_property
    def _room(self) -> int:
        """What a CON screen holds besides "Choix invalide." and its line break,
        kept for it always: a wrong key never pushes a category to another page."""
        return MAX_SCREEN - PREFIX - len(self._text("invalid_choice")) - 1

    @cached_property
    def _navigation(self) -> int:
        more = len(self._text("more_categories"))
        first = len(self._text("first_categories"))
        return len(f"\n{MORE_KEY} ") + max(more, first)

    @cached_property
    def _labels(self) -> tuple[str, ...]:
        # A label too long for a page of its own is cut: a category is never lost.
        room = self._room - len(self._text("category_menu")) - self._navigation
        return tuple(shorten(label, room - len("\n9 ")) for _, label in self.categories)

    @cached_property
    def _pages(self) -> tuple[tuple[int, ...], ...]:
        """The categories' indexes page by page: as many as fit, at most 9 a page."""
        lines = [len(f"\n9 {label}") for label in self._labels]
        room = self._room - len(self._text("category_menu"))
        if len(lines) <= 9 and sum(lines) <= room:
            return (tuple(range(len(lines))),)
        room -= self._navigation
        pages: list[list[int]] = [[]]
        used = 0
        for index, length in enumerate(lines):
            if pages[-1] and (used + length > room or len(pages[-1]) == 9):
                pages.append([])
                used = 0
            pages[-1].append(index)
            used += length
        return tuple(tuple(page) for page in pages)

    def _category_page(self, page: int) -> str:
        on_page = self._pages[page]
        lines = [self._text("category_menu")]
        lines += [
            f"{digit} {self._labels[index]}"
            for digit, index in enumerate(on_page, start=1)
        ]
        if len(self._pages) > 1:
            last = page == len(self._pages) - 1
            word = self._text("first_categories" if last else "more_categories")
            lines.append(f"{MORE_KEY} {word}")
        return "\n".join(lines)

    def _confirmation(self, index: int) -> str:
        room = self._room - len(self._text("confirm", category=""))
        label = shorten(self.categories[index][1], room)
        return self._text("confirm", category=label)

    def _information(self) -> str:
        parts = list(self.information)
        # The least important part goes first when they do not all fit.
        while len(parts) > 1 and len("\n".join(parts)) > MAX_SCREEN - PREFIX:
            parts.pop()
        return "\n".join(parts)
