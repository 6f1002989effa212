"""Keystrokes after a cached FIM prompt go after its middle token (completion/anchors.py)."""

import asyncio

from fauxpilot.completion.service import CompletionService
from fauxpilot.completion.types import CompletionJob, CompletionOptions, ContextFile
from fauxpilot.engine.base import SamplingParams
from tests.unit.fakes import SPECIALS, FakeEngine

MIDDLE = SPECIALS["<|fim_middle|>"]
SUFFIX = "\n    return total\n"


def job(prompt: str, suffix: str = SUFFIX, **changes: object) -> CompletionJob:
    fields: dict[str, object] = {
        "request_id": "r",
        "prompts": [prompt],
        "suffix": suffix,
        "max_tokens": 8,
        "sampling": SamplingParams(temperature=0.0),
    }
    fields.update(changes)
    return CompletionJob(**fields)  # type: ignore[arg-type]


def service(**options: object) -> tuple[CompletionService, FakeEngine]:
    engine = FakeEngine(context_length=512)
    options = {"fim_anchor_chars": 64, "fim_anchor_heal": False, **options}
    chosen = CompletionOptions(typeahead=False, suffix_rank_lines=0, **options)  # type: ignore[arg-type]
    return CompletionService(engine, chosen), engine


def prompt_of(completion: CompletionService, request: CompletionJob) -> list[int]:
    return completion.prepare(request).prompts[0].tokens


def text_after_middle(tokens: list[int]) -> str:
    middle = tokens.index(MIDDLE)
    return bytes(token - 10 for token in tokens[middle + 1 :]).decode()


def test_keystrokes_append_after_the_middle_token_of_the_first_layout() -> None:
    completion, _ = service()
    first = prompt_of(completion, job("def f(xs):\n    tot"))
    assert first[-1] == MIDDLE
    later = prompt_of(completion, job("def f(xs):\n    total = su"))
    assert later[: len(first)] == first
    assert text_after_middle(later) == "al = su"


def test_a_deletion_into_the_anchor_or_a_new_suffix_lays_the_prompt_out_anew() -> None:
    completion, _ = service()
    prompt_of(completion, job("def f(xs):\n    tot"))
    deleted = prompt_of(completion, job("def f(xs):\n    to"))
    assert deleted[-1] == MIDDLE
    other_suffix = prompt_of(completion, job("def f(xs):\n    tox", suffix="\n"))
    assert other_suffix[-1] == MIDDLE and text_after_middle(other_suffix) == ""


def test_past_the_character_budget_the_layout_is_new_and_the_next_anchor() -> None:
    completion, _ = service(fim_anchor_chars=4)
    first = prompt_of(completion, job("x = "))
    within = prompt_of(completion, job("x = abcd"))
    assert within[: len(first)] == first and text_after_middle(within) == "abcd"
    beyond = prompt_of(completion, job("x = abcde"))
    assert beyond[-1] == MIDDLE
    again = prompt_of(completion, job("x = abcdef"))
    assert again[: len(beyond)] == beyond and text_after_middle(again) == "f"


def test_a_prefix_window_whose_start_moved_still_types_on_from_the_anchor() -> None:
    completion, _ = service()
    lines = "".join(f"line_{n} = {n}\n" for n in range(10))
    first = prompt_of(completion, job(lines + "y = "))
    shifted = lines[lines.index("\n") + 1 :] + "y = 4"  # the client's window lost a line
    later = prompt_of(completion, job(shifted))
    assert later[: len(first)] == first and text_after_middle(later) == "4"


def test_anchors_are_kept_apart_by_key_scope_context_files_and_echo() -> None:
    completion, _ = service()
    prompt_of(completion, job("x = "))
    other_key = prompt_of(completion, job("x = 1", cache_scope="key-b"))
    assert other_key[-1] == MIDDLE
    files = (ContextFile("a.py", "A = 1\n"),)
    with_files = prompt_of(completion, job("x = 1", context_files=files))
    assert with_files[-1] == MIDDLE
    echoed = prompt_of(completion, job("x = 1", echo=True))
    assert echoed[-1] == MIDDLE


def test_off_every_keystroke_is_laid_out_anew() -> None:
    completion, _ = service(fim_anchor_chars=0)
    prompt_of(completion, job("a = 1\nb = "))
    later = prompt_of(completion, job("a = 1\nb = 2\nc = "))
    assert text_after_middle(later) == ""


def test_the_engine_runs_the_anchored_prompt_and_a_fit_check_keeps_it_in_context() -> None:
    completion, engine = service()
    asyncio.run(completion.complete(completion.prepare(job("z = "))))
    asyncio.run(completion.complete(completion.prepare(job("z = 12"))))
    assert text_after_middle(engine.requests[-1].prompt_tokens) == "12"
    long_typed = prompt_of(completion, job("z = 12", max_tokens=512 - 20))
    assert long_typed[-1] == MIDDLE  # no room for the anchor: laid out (and trimmed) anew


def test_by_default_keystrokes_are_anchored_and_healed() -> None:
    engine = FakeEngine(context_length=512, heals_tokens=True)
    completion = CompletionService(engine)  # the shipped defaults
    asyncio.run(completion.complete(completion.prepare(job("z = "))))
    asyncio.run(completion.complete(completion.prepare(job("z = 12"))))
    sent = engine.requests[-1]
    assert text_after_middle(sent.prompt_tokens) == "1" and sent.first_token_prefix == b"2"


def test_anchors_together_stay_within_their_memory_budget() -> None:
    from fauxpilot.completion.anchors import AnchorKey, FimAnchors
    from fauxpilot.completion.fim import PreparedPrompt
    from tests.unit.fakes import ByteTokenizer

    anchors = FimAnchors(64, capacity=32, budget_bytes=10_000)
    tokenizer = ByteTokenizer()

    def kept(suffix: str, prefix: str) -> bool:
        key = AnchorKey("", suffix, ())
        return anchors.layout(tokenizer, key, prefix + "a", room=100_000) is not None

    for number in range(5):  # each ~2,100 bytes: four fit in 10,000
        laid_out = PreparedPrompt([1] * 10, "x" * 1_000, False)
        anchors.remember(AnchorKey("", f"s{number}", ()), "p" * 1_000, laid_out)
    assert [kept(f"s{number}", "p" * 1_000) for number in range(5)] == [False] + [True] * 4
    huge = "p" * 20_000
    anchors.remember(AnchorKey("", "huge", ()), huge, PreparedPrompt([1], huge, False))
    assert not kept("huge", huge), "too large to keep at all"
    assert kept("s4", "p" * 1_000), "and nothing else was dropped for it"
