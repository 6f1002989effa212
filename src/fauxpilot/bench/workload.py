"""What editors send while a person types: keystroke sessions over real source files.

The files are the Python standard library's own modules, present on every machine and
written by no one here.
"""

from __future__ import annotations

import random
import string
import sysconfig
from dataclasses import dataclass
from pathlib import Path

# Modules of the standard library, each long enough for a ~1,200-token window.
SOURCE_MODULES = ("difflib.py", "argparse.py", "statistics.py", "fractions.py", "textwrap.py")
PREFIX_CHARS = 4000  # about 1,000 tokens of code before the cursor
SUFFIX_CHARS = 800  # about 200 tokens after it
UNPREDICTABLE_SUFFIX_CHARS = 1000  # about 250 tokens, what each keystroke would read again


@dataclass(frozen=True)
class Keystroke:
    prefix: str
    suffix: str


def stdlib_source(name: str) -> str:
    return (Path(sysconfig.get_paths()["stdlib"]) / name).read_text(encoding="utf-8")


def _line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def _window(text: str, cursor: int, suffix_chars: int = SUFFIX_CHARS) -> tuple[str, str]:
    """The prefix and suffix an editor sends for a cursor, cut at line boundaries."""
    start = _line_start(text, max(0, cursor - PREFIX_CHARS))
    end = text.rfind("\n", cursor, cursor + suffix_chars)
    return text[start:cursor], text[cursor : end + 1 if end != -1 else cursor + suffix_chars]


def typing_session(source: str, keystrokes: int, start_fraction: float = 0.5) -> list[Keystroke]:
    """Someone retyping the file from a line in its middle: each request adds one true char.

    The code after the typed stretch stays the suffix, as it would in an editor.
    """
    begin = _line_start(source, int(len(source) * start_fraction))
    typed_end = begin + keystrokes
    after = source[typed_end:]
    sessions = []
    for count in range(1, keystrokes + 1):
        prefix, _ = _window(source[: begin + count], begin + count)
        _, suffix = _window(after, 0)
        sessions.append(Keystroke(prefix, suffix))
    return sessions


def random_line_session(
    source: str, keystrokes: int, seed: int = 0, start_fraction: float = 0.5
) -> list[Keystroke]:
    """Someone writing a new line the model cannot predict: random identifier-like text.

    The new line goes before an indented line in the file's middle, with that line's
    indentation already typed (the editor's auto-indent), so the cursor is after the
    indentation; the ~1,000 characters from the next line on are the suffix. Every request
    adds one random character.
    """
    line = _random_line(random.Random(seed), keystrokes)
    begin = _indented_line_start(source, int(len(source) * start_fraction))
    indent = _indentation(source, begin)
    head = source[:begin] + indent
    _, suffix = _window("\n" + source[begin:], 0, UNPREDICTABLE_SUFFIX_CHARS)
    sessions = []
    for count in range(1, keystrokes + 1):
        prefix, _ = _window(head + line[:count], len(head) + count)
        sessions.append(Keystroke(prefix, suffix))
    return sessions


def _random_line(rng: random.Random, length: int) -> str:
    """An assignment of a call on random identifiers, `length` characters long."""
    words = [
        "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 8)))
        for _ in range(max(3, length))
    ]
    return (" = ".join(words[:2]) + "(" + ", ".join(words[2:]))[:length]


def _indented_line_start(text: str, offset: int) -> int:
    """The start of the first indented, non-blank line at or after `offset`'s line."""
    start = _line_start(text, offset)
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end == -1 else end
        line = text[start:end]
        if line.strip() and line[0] in " \t":
            return start
        start = end + 1
    raise ValueError("no indented line after the offset")


def _indentation(text: str, start: int) -> str:
    line = text[start : text.find("\n", start)]
    return line[: len(line) - len(line.lstrip(" \t"))]


def cold_request(source: str, salt: str) -> Keystroke:
    """A long FIM request no cache has seen: a salted comment changes its very first token."""
    cursor = _line_start(source, min(len(source), PREFIX_CHARS + 200))
    prefix, suffix = _window(source, cursor)
    return Keystroke(f"# {salt}\n{prefix}", suffix)
