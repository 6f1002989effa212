"""The completion rules of a request's language: from the editor's language id, else the
file's name (the table is fauxpilot.languages, shared with fine-tuning)."""

from __future__ import annotations

from fauxpilot.languages import Language, language_named, language_of_file

UNKNOWN = Language("unknown")


def rules_for(language: str | None = None, path: str | None = None) -> Language:
    """The language an editor names (`extra.language`, Tabby's `language`) or, failing that,
    the one of the file at `path`; `UNKNOWN` (no stop words, dedent stop) otherwise."""
    return language_named(language) or (language_of_file(path) if path else None) or UNKNOWN
