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


@dataclass(frozen=True)
class Keystroke:
    prefix: str
    suffix: str


def stdlib_source(name: str) -> str:
    return (Path(sysconfig.get_paths()["stdlib"]) / name).read_text(encoding="utf-8")


def _line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def _window(text: str, cursor: int) -> tuple[str, str]:
    """The prefix and suffix an editor sends for a cursor, cut at line boundaries."""
    start = _line_start(text, max(0, cursor - PREFIX_CHARS))
    end = text.rfind("\n", cursor, cursor + SUFFIX_CHARS)
    return text[start:cursor], text[cursor : end + 1 if end != -1 else cursor + SUFFIX_CHARS]


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


def random_line_session(source: str, keystrokes: int, seed: int = 0) -> list[Keystroke]:
    """Typing a line the model cannot predict: random identifiers, at a line start."""
    rng = random.Random(seed)
    words = [
        "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 8)))
        for _ in range(keystrokes)
    ]
    line = (" = ".join(words[:2]) + "(" + ", ".join(words[2:]))[:keystrokes]
    begin = _line_start(source, len(source) // 2)
    head, tail = source[:begin], source[begin:]
    sessions = []
    for count in range(1, keystrokes + 1):
        prefix, _ = _window(head + line[:count], begin + count)
        _, suffix = _window(tail, 0)
        sessions.append(Keystroke(prefix, suffix))
    return sessions


def cold_request(source: str, salt: str) -> Keystroke:
    """A long FIM request no cache has seen: a salted comment changes its very first token."""
    cursor = _line_start(source, min(len(source), PREFIX_CHARS + 200))
    prefix, suffix = _window(source, cursor)
    return Keystroke(f"# {salt}\n{prefix}", suffix)
