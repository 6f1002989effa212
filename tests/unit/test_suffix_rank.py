"""Picking between the FIM and the left-to-right suggestion by the code after the cursor."""

from __future__ import annotations

import asyncio

from fauxpilot.completion.service import CompletionService
from fauxpilot.completion.suffix_rank import suffix_window
from fauxpilot.completion.types import ChoiceDelta, CompletionJob, CompletionOptions
from fauxpilot.engine.base import SamplingParams, common_prefix_length

from .fakes import SPECIALS, FakeEngine

RANKED = CompletionOptions(suffix_rank_lines=3)
PREFIX = "def total(xs):\n    result = 0\n    for x in xs:\n"
SUFFIX = "\n    return result\n\nprint(total([1, 2]))\n"
GOOD = "        result += x"
BAD = "    return result"


def likes(text: str, engine: FakeEngine) -> None:
    """The fake model finds prompts containing `text` likely, others unlikely."""

    def logprob(prompt: list[int], index: int) -> float:
        decoded = b"".join(engine.tokenizer.piece(token) for token in prompt).decode()
        return -0.1 if text in decoded else -2.0

    engine.prompt_logprob = logprob


def job(**fields: object) -> CompletionJob:
    values: dict[str, object] = {
        "request_id": "cmpl-test",
        "prompts": [PREFIX],
        "max_tokens": 32,
        "suffix": SUFFIX,
        "sampling": SamplingParams(temperature=0.0),
        "stop": ("\n",),
    }
    values.update(fields)
    return CompletionJob(**values)  # type: ignore[arg-type]


def complete(service: CompletionService, request: CompletionJob) -> list[str]:
    prepared = service.prepare(request)
    result = asyncio.run(service.complete(prepared))
    return [choice.text for choice in result.choices]


def test_the_suggestion_that_leads_into_the_suffix_is_kept() -> None:
    engine = FakeEngine(context_length=1024)
    engine.queue_output(BAD + "\n")  # the FIM prompt runs first
    engine.queue_output(GOOD + "\n")
    likes(GOOD, engine)
    assert complete(CompletionService(engine, RANKED), job()) == [GOOD]

    fim, left, *scoring = engine.requests
    fim_prefix = SPECIALS["<|fim_prefix|>"]
    assert fim.prompt_tokens[0] == fim_prefix
    # The left-to-right prompt is the FIM prompt's start: it reuses that prompt's cache.
    assert left.prompt_tokens == [fim_prefix, *engine.tokenizer.tokenize(PREFIX, special=False)]
    assert fim.prompt_tokens[: len(left.prompt_tokens)] == left.prompt_tokens
    assert SPECIALS["<|fim_suffix|>"] in left.stop_token_ids
    assert len(scoring) == 2
    for request, candidate in zip(scoring, [BAD, GOOD], strict=True):
        expected = PREFIX + candidate + suffix_window(SUFFIX, 3)
        tokens = [fim_prefix, *engine.tokenizer.tokenize(expected, special=False)]
        assert request.prompt_tokens == tokens
        assert request.prompt_logprobs and request.max_tokens == 0
    # Both candidates start with four spaces: that shared stretch adds the same to both
    # scores, so scoring starts after it.
    first, second = (request.prompt_tokens for request in scoring)
    shared = common_prefix_length(first, second)
    assert shared == len(left.prompt_tokens) + len("    ")
    assert all(request.prompt_logprobs_from == shared for request in scoring)


def test_the_fim_suggestion_is_kept_when_it_leads_better() -> None:
    engine = FakeEngine(context_length=1024)
    engine.queue_output(GOOD + "\n")
    engine.queue_output(BAD + "\n")
    likes(GOOD, engine)
    assert complete(CompletionService(engine, RANKED), job()) == [GOOD]


def test_equal_suggestions_are_not_scored() -> None:
    engine = FakeEngine(context_length=1024)
    engine.queue_output(GOOD + "\n")
    engine.queue_output(GOOD + "\n")
    assert complete(CompletionService(engine, RANKED), job()) == [GOOD]
    assert len(engine.requests) == 2
    assert not any(request.prompt_logprobs for request in engine.requests)


def test_one_line_requests_are_ranked_by_default() -> None:
    engine = FakeEngine(context_length=1024)
    engine.queue_output(BAD + "\n")
    engine.queue_output(GOOD + "\n")
    likes(GOOD, engine)
    assert complete(CompletionService(engine), job()) == [GOOD]
    assert len(engine.requests) == 4


def test_ranking_turned_off_sends_the_fim_prompt_alone() -> None:
    engine = FakeEngine(context_length=1024)
    engine.queue_output(BAD + "\n")
    off = CompletionOptions(suffix_rank_lines=0)
    assert complete(CompletionService(engine, off), job()) == [BAD]
    assert len(engine.requests) == 1


def test_requests_without_a_one_line_stop_are_ranked_only_when_asked() -> None:
    multiline = {"stop": ("\ndef",)}
    engine = FakeEngine(context_length=1024)
    engine.queue_output(BAD)
    assert complete(CompletionService(engine), job(**multiline)) == [BAD]
    assert len(engine.requests) == 1

    engine = FakeEngine(context_length=1024)
    engine.queue_output(BAD)
    engine.queue_output(GOOD)
    likes(GOOD, engine)
    options = CompletionOptions(suffix_rank_multiline=True)
    assert complete(CompletionService(engine, options), job(**multiline)) == [GOOD]
    assert len(engine.requests) == 4


def test_requests_the_ranking_does_not_apply_to_run_fim_alone() -> None:
    for fields in ({"n": 2}, {"echo": True}, {"suffix": "\n  \n"}, {"best_of": 2}):
        engine = FakeEngine(context_length=1024)
        complete(CompletionService(engine, RANKED), job(**fields))
        assert engine.requests, fields
        fim_suffix = SPECIALS["<|fim_suffix|>"]
        assert all(fim_suffix in request.prompt_tokens for request in engine.requests)


def test_a_ranked_suggestion_streams_as_one_delta_with_its_finish_reason() -> None:
    engine = FakeEngine(context_length=1024)
    engine.queue_output(BAD + "\n")
    engine.queue_output(GOOD + "\n")
    likes(GOOD, engine)
    service = CompletionService(engine, RANKED)
    request = job()

    async def collect() -> list[ChoiceDelta]:
        return [delta async for delta in service.stream(service.prepare(request))]

    deltas = asyncio.run(collect())
    assert [(delta.text, delta.finish_reason) for delta in deltas] == [(GOOD, "stop")]


def test_suffix_window_keeps_the_cursor_line_and_the_lines_after_it() -> None:
    assert suffix_window(")\n    a\n    b\n    c\n", 2) == ")\n    a\n    b"
    assert suffix_window("\n    a\n", 8) == "\n    a\n"
