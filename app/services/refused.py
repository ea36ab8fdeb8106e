"""The error a service raises when an input breaks one of its rules.

It names the input at fault and a stable code: the command line prints the
English message, a page shows its own words for the code in the user's language.
"""


class Refused(ValueError):
    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code
        self.message = message
