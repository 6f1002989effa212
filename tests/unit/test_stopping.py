from fauxpilot.completion.detok import Utf8Stream
from fauxpilot.completion.stopping import (
    DedentRule,
    StopAssembler,
    StopRule,
    cursor_line,
    stop_rules,
    suffix_repeat_rule,
)
from fauxpilot.completion.types import CompletionJob


def feed(stops: list[str], pieces: list[str]) -> tuple[str, bool, list[int]]:
    assembler: StopAssembler[int] = StopAssembler(stops)
    out: list[str] = []
    payloads: list[int] = []
    for number, piece in enumerate(pieces):
        for emitted in assembler.push(piece, number):
            out.append(emitted.text)
            payloads.append(emitted.payload)
        if assembler.stopped:
            break
    if not assembler.stopped:
        for emitted in assembler.flush():
            out.append(emitted.text)
            payloads.append(emitted.payload)
    return "".join(out), assembler.stopped, payloads


def test_no_stops_passes_everything_through() -> None:
    assert feed([], ["a", "b", "c"]) == ("abc", False, [0, 1, 2])


def test_stop_inside_one_piece_is_trimmed() -> None:
    text, stopped, _ = feed(["\n"], ["x = 1", "\ny = 2"])
    assert (text, stopped) == ("x = 1", True)


def test_stop_across_token_boundaries() -> None:
    text, stopped, payloads = feed(["\ndef"], ["return a", "\n", "de", "f foo"])
    assert (text, stopped) == ("return a", True)
    assert payloads == [0]


def test_partial_stop_prefix_is_released_when_it_diverges() -> None:
    text, stopped, _ = feed(["\ndef"], ["a", "\n", "de", "lta"])
    assert (text, stopped) == ("a\ndelta", False)


def test_earliest_of_several_stops_wins() -> None:
    text, stopped, _ = feed(["END", "\n\n"], ["x\n", "\nEND"])
    assert (text, stopped) == ("x", True)


def test_straddling_piece_keeps_its_text_before_the_stop() -> None:
    text, stopped, payloads = feed(["STOP"], ["ab", "cST", "OPd"])
    assert (text, stopped) == ("abc", True)
    assert payloads == [0, 1]


def test_repeated_prefix_characters() -> None:
    text, stopped, _ = feed(["aab"], ["a", "a", "a", "b", "c"])
    assert (text, stopped) == ("a", True)


def test_utf8_stream_waits_for_whole_characters() -> None:
    stream = Utf8Stream()
    encoded = "é€".encode()
    outputs = [stream.push(encoded[index : index + 1]) for index in range(len(encoded))]
    assert outputs == ["", "é", "", "", "€"]
    assert stream.flush() == ""


def test_utf8_stream_flushes_broken_bytes_as_replacement() -> None:
    stream = Utf8Stream()
    assert stream.push(b"a\xe2\x82") == "a"
    assert stream.flush() == "\ufffd"


def test_repeating_the_suffix_first_line_stops_and_keeps_the_newline() -> None:
    rule = suffix_repeat_rule("        if distance < threshold:\n            return True\n")
    assert rule is not None
    assembler: StopAssembler[int] = StopAssembler([rule])
    pieces = ["        distance = abs(a - b)", "\n        if distance", " < threshold:", "\n  x"]
    out = "".join(p.text for piece in pieces for p in assembler.push(piece, 0))
    assert assembler.stopped
    assert out == "        distance = abs(a - b)\n"


def test_suffix_rule_needs_the_whole_line() -> None:
    rule = suffix_repeat_rule("\n\n    return x\n")
    assert rule is not None and rule.text == "\n    return x\n"
    assembler: StopAssembler[int] = StopAssembler([rule])
    for piece in ["a = 1\n    return x + 1\n", "b"]:
        assembler.push(piece, 0)
    assert not assembler.stopped
    assert suffix_repeat_rule("\n  \n") is None


def test_dedent_rule_stops_before_a_line_leaving_the_block() -> None:
    assembler: StopAssembler[int] = StopAssembler([DedentRule("    ")])
    pieces = ["x = 1\n", "    y = 2\n", "\n", "        z = 3\n", "  ", "  w\n", "def", " g():\n"]
    out = "".join(p.text for piece in pieces for p in assembler.push(piece, 0))
    assert assembler.stopped
    assert out == "x = 1\n    y = 2\n\n        z = 3\n    w\n"


def test_dedent_rule_waits_for_the_first_character_of_a_line() -> None:
    assembler: StopAssembler[int] = StopAssembler([DedentRule(" " * 8)])
    emitted = [p.text for p in assembler.push("a\n  ", 0)]
    assert emitted == []  # "  " could still become a dedented line
    assert "".join(p.text for p in assembler.push("      b", 1)) == "a\n        b"
    assert not assembler.stopped


def test_editor_stops_come_with_a_suffix() -> None:
    def job(prompt: str, suffix: str | None) -> CompletionJob:
        return CompletionJob("r", [prompt], 16, suffix=suffix, stop=("\n\n\n",))

    assert cursor_line("def f():\n    ret") == "    ret"
    assert cursor_line("def f():\n") == ""
    assert len(stop_rules(job("def f():\n    ret", None))) == 1
    rules = stop_rules(job("def f():\n    ret", "\nprint(f())\n"))
    assert StopRule("\nprint(f())\n", keep=1) in rules
    assert DedentRule("    ret") in rules


def dedent_cut(typed: str, pieces: list[str]) -> str:
    """What a suggestion made of `pieces` keeps, once it has finished."""
    assembler: StopAssembler[int] = StopAssembler([DedentRule(typed)])
    kept = [p.text for piece in pieces for p in assembler.push(piece, 0)]
    return "".join(kept + [p.text for p in assembler.flush()])


def test_after_a_finished_line_the_next_line_may_close_the_block() -> None:
    """The cursor ends `return b`: `else:` is the suggestion, not a reason to stop."""
    typed = "            return b"
    pieces = ["\n", "        else", ":\n", "            return a\n", "    return x\n"]
    assert dedent_cut(typed, pieces) == "\n        else:\n            return a\n"
    # The first line is never cut, however far it dedents; the ones after it are.
    assert dedent_cut(typed, ["\n    return count\n", "print()"]) == "\n    return count\n"


def test_a_suggestion_that_goes_on_with_the_cursors_line_stays_in_its_block() -> None:
    assert dedent_cut("    x = foo(", ["a, b)\n", "def g():\n"]) == "a, b)\n"
    assert dedent_cut("    x = foo(", ["a, b)\n", "    y = 1\n"]) == "a, b)\n    y = 1\n"


def test_at_a_line_start_the_first_line_written_sets_the_block() -> None:
    assert dedent_cut("", ["    a = 1\n", "    b = 2\n", "c = 3\n"]) == "    a = 1\n    b = 2\n"
    assert dedent_cut("", ["\n", "\n", "    a = 1\n", "b\n"]) == "\n\n    a = 1\n"
