"""The one base of the errors a user can fix (a setting, a model name, a file, an address).

`fauxpilot` catches `UserError`, logs its message as one line and exits with status 2; any
other exception is a bug and keeps its traceback. Each subclass keeps its older base too
(`ValueError`, `RuntimeError`, `LookupError`), so `except ValueError` still catches it.
"""

from __future__ import annotations


class UserError(Exception):
    """Something the user asked for or set up cannot be done as given; the message says why."""
