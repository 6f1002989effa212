"""Which language a source file is written in (fauxpilot.languages holds the table)."""

from __future__ import annotations

from fauxpilot.languages import known_language_ids, language_of_file

__all__ = ["detect_language", "known_languages"]

# Prose, not code: not training data.
NOT_CODE = frozenset({"plaintext"})


def known_languages() -> list[str]:
    return [name for name in known_language_ids() if name not in NOT_CODE]


def detect_language(path: str, first_line: str) -> str | None:
    """The VS Code language id of the file at `path` (posix), or None when neither its name
    nor its shebang line tell."""
    language = language_of_file(path, first_line)
    return language.id if language and language.id not in NOT_CODE else None
