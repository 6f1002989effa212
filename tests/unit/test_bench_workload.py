"""The bench's keystroke sessions: what an editor would send, keystroke by keystroke."""

from __future__ import annotations

import itertools
import sys

import pytest

from fauxpilot.bench.servers import llama_cpp_server_missing
from fauxpilot.bench.workload import (
    UNPREDICTABLE_SUFFIX_CHARS,
    random_line_session,
    stdlib_source,
    typing_session,
)

SOURCE = stdlib_source("argparse.py")


def test_unpredictable_line_types_after_the_indentation_of_a_new_line() -> None:
    session = random_line_session(SOURCE, 20)
    assert len(session) == 20
    first_line = session[0].prefix.rsplit("\n", 1)[1]
    indent = first_line[:-1]
    assert indent and not indent.strip(), "the cursor sits after the auto-indent"
    typed = session[-1].prefix.rsplit("\n", 1)[1][len(indent) :]
    assert len(typed) == 20 and typed not in SOURCE


def test_unpredictable_line_adds_one_character_and_keeps_the_suffix() -> None:
    session = random_line_session(SOURCE, 12)
    for before, after in itertools.pairwise(session):
        assert after.prefix[:-1].endswith(before.prefix[-40:])
        assert after.suffix == before.suffix
    suffix = session[0].suffix
    assert suffix.startswith("\n") and suffix[1:].lstrip(" ") != suffix[1:]
    assert len(suffix) <= UNPREDICTABLE_SUFFIX_CHARS and len(suffix) > 800
    assert SOURCE.find(suffix[1:]) > 0, "the suffix is the file from the next line on"


def test_unpredictable_lines_differ_by_seed() -> None:
    one = random_line_session(SOURCE, 16, seed=1)[-1].prefix
    two = random_line_session(SOURCE, 16, seed=2)[-1].prefix
    assert one != two and one[:-16] == two[:-16]


def test_typing_session_adds_the_files_own_next_characters() -> None:
    session = typing_session(SOURCE, 5)
    typed = [keystroke.prefix[-1] for keystroke in session]
    start = SOURCE.find(session[0].prefix)
    assert start >= 0
    assert "".join(typed) == SOURCE[start + len(session[0].prefix) - 1 :][:5]


def test_compare_says_how_to_install_the_peer_when_it_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp.server.app", None)
    reason = llama_cpp_server_missing()
    assert reason is not None and ".[bench]" in reason
