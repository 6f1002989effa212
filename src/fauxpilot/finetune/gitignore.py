"""The common .gitignore syntax, for source trees that are not git work trees.

Supported: comments, blank lines, `!` negation, a trailing `/` for directories, a leading or
inner `/` anchoring the pattern to the .gitignore's directory, `*`, `?`, `[...]` and `**`.
Each .gitignore applies to its own directory and below; deeper files and later lines win.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class IgnoreRule:
    regex: re.Pattern[str]
    negated: bool
    directory_only: bool


@dataclass(frozen=True)
class IgnoreFile:
    """The rules of one .gitignore, and the directory it sits in ("" for the top)."""

    directory: str
    rules: tuple[IgnoreRule, ...]


def parse_gitignore(text: str) -> tuple[IgnoreRule, ...]:
    rules = (_parse_line(line) for line in text.splitlines())
    return tuple(rule for rule in rules if rule is not None)


def is_ignored(path: str, is_directory: bool, ignore_files: Sequence[IgnoreFile]) -> bool:
    """Whether `path` (posix, relative to the top) is ignored; `ignore_files` top first."""
    ignored = False
    for ignore_file in ignore_files:
        relative = _relative_to(path, ignore_file.directory)
        if relative is None:
            continue
        for rule in ignore_file.rules:
            if rule.directory_only and not is_directory:
                continue
            if rule.regex.fullmatch(relative):
                ignored = not rule.negated
    return ignored


def _relative_to(path: str, directory: str) -> str | None:
    if not directory:
        return path
    prefix = directory + "/"
    return path[len(prefix) :] if path.startswith(prefix) else None


def _parse_line(line: str) -> IgnoreRule | None:
    pattern = _strip_trailing_spaces(line)
    if not pattern or pattern.startswith("#"):
        return None
    negated = pattern.startswith("!")
    if negated or pattern.startswith(("\\!", "\\#")):  # "\#": a name that starts with #
        pattern = pattern[1:]
    directory_only = pattern.endswith("/")
    pattern = pattern.rstrip("/")
    if not pattern:
        return None
    # A slash anywhere but at the end anchors the pattern; otherwise it matches at any depth.
    pattern = pattern.removeprefix("/") if "/" in pattern else "**/" + pattern
    try:
        regex = re.compile(_translate(pattern))
    except re.error:  # git ignores what it cannot parse, e.g. the range [z-a]
        return None
    return IgnoreRule(regex, negated, directory_only)


def _strip_trailing_spaces(line: str) -> str:
    stripped = line.rstrip(" ")
    # "a\ " keeps its escaped space.
    if stripped.endswith("\\") and len(stripped) < len(line):
        return stripped + " "
    return stripped


def _translate(pattern: str) -> str:
    """A gitignore glob as a regular expression over a posix path."""
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        at_segment_start = index == 0 or pattern[index - 1] == "/"
        if at_segment_start and pattern.startswith("**/", index):
            parts.append("(?:.*/)?")  # zero or more directories
            index += 3
        elif at_segment_start and pattern[index:] == "**":
            parts.append(".*")  # everything inside
            index += 2
        elif pattern[index] == "*":
            parts.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            parts.append("[^/]")
            index += 1
        elif pattern[index] == "[":
            translated, index = _translate_class(pattern, index)
            parts.append(translated)
        elif pattern[index] == "\\" and index + 1 < len(pattern):
            parts.append(re.escape(pattern[index + 1]))
            index += 2
        else:
            parts.append(re.escape(pattern[index]))
            index += 1
    return "".join(parts)


def _translate_class(pattern: str, start: int) -> tuple[str, int]:
    """`[a-z]` or `[!0-9]` starting at `start`; a `[` without its `]` is a plain character."""
    end = pattern.find("]", start + 1)
    body = pattern[start + 1 : end]
    if end == -1 or body in ("", "!"):
        return re.escape("["), start + 1
    if body.startswith("!"):
        body = "^" + body[1:]
    return "[" + body.replace("\\", "\\\\").replace("[", "\\[") + "]", end + 1
