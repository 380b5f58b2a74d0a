"""User-facing errors.

Every mistake a user can make (unknown model, missing file, wrong shape, impossible hyperparameter)
raises :class:`UserError` with a one-line message that names the problem *and* the fix. It subclasses
``ValueError`` so library callers can catch the usual type; the CLI turns it into ``googlenet: error:
...`` with exit code 2 and no traceback (unless ``--debug``).
"""

from __future__ import annotations


class UserError(ValueError):
    """A problem with the user's input, with a message that says how to fix it."""


class DataError(UserError):
    """A dataset, image or checkpoint file that is missing, unreadable or corrupt."""


def require(condition: bool, message: str) -> None:
    """Raise :class:`UserError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise UserError(message)
