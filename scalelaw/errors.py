"""Errors and warnings a user can cause.

`UserError` is for mistakes in input (a bad CSV, an unknown law, an impossible budget):
the CLI prints its message as one line on stderr and exits with code 2. Anything else that
escapes is a bug and may show a traceback.
"""


class UserError(Exception):
    """A mistake in the user's input; the message must say what and where."""


class ScalelawWarning(UserWarning):
    """Something the user should know about a result (excluded rows, a bound hit, ...)."""
