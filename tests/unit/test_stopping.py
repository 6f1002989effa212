from fauxpilot.completion.detok import Utf8Stream
from fauxpilot.completion.stopping import StopAssembler


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
