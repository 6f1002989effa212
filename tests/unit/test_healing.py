"""Token healing: the typed text's last token is left for the model to choose."""

from __future__ import annotations

import asyncio
import dataclasses

from fauxpilot.completion.service import CompletionService
from fauxpilot.completion.types import CompletionOptions
from fauxpilot.engine.scheduler import Generation, Scheduler
from fauxpilot.engine.token_prefix import TokenPrefixIndex
from tests.unit.fakes import FakeEngine
from tests.unit.test_anchors import MIDDLE, job, text_after_middle
from tests.unit.test_scheduler import FakeBatchModel, request, run, tokens_of

PIECES = [b"", b"a", b"ab", b"b", b"abc", b"\xff", b"\xff\x01", b"a", b"ba"]


def test_the_index_finds_every_token_that_starts_with_some_bytes() -> None:
    index = TokenPrefixIndex(PIECES.__getitem__, len(PIECES))
    assert sorted(index.starting_with(b"a").tolist()) == [1, 2, 4, 7]
    assert sorted(index.starting_with(b"ab").tolist()) == [2, 4]
    assert sorted(index.starting_with(b"b").tolist()) == [3, 8]
    assert sorted(index.starting_with(b"\xff").tolist()) == [5, 6]
    assert index.starting_with(b"c").tolist() == []


def test_the_scheduler_allows_only_healing_tokens_first_then_samples_freely() -> None:
    model = FakeBatchModel(1)
    free: dict[str, list[object]] = {"free": []}
    run(Scheduler(model, 1, 8), [Generation(request("free", [3, 4]), free["free"].append)], free)
    first_free = tokens_of(free["free"])[0]
    prefix = model.piece(first_free + 1)  # a letter the free run did not start with
    events: dict[str, list[object]] = {"healed": []}
    healed_request = request("healed", [3, 4])
    healed_request = dataclasses.replace(healed_request, first_token_prefix=prefix)
    scheduler = Scheduler(FakeBatchModel(1), 1, 8)
    run(scheduler, [Generation(healed_request, events["healed"].append)], events)
    generated = tokens_of(events["healed"])
    assert model.piece(generated[0]).startswith(prefix) and generated[0] != first_free
    assert len(generated) == 6


def anchored_service(heals: bool) -> tuple[CompletionService, FakeEngine]:
    engine = FakeEngine(context_length=512, heals_tokens=heals)
    options = CompletionOptions(
        typeahead=False, suffix_rank_lines=0, fim_anchor_chars=64, fim_anchor_heal=True
    )
    return CompletionService(engine, options), engine


def test_an_anchored_prompt_leaves_its_last_typed_token_to_the_model() -> None:
    completion, engine = anchored_service(heals=True)
    asyncio.run(completion.complete(completion.prepare(job("z = "))))
    engine.queue_output("2 + 3\n")  # the engine's first token starts with the dropped "2"
    result = asyncio.run(completion.complete(completion.prepare(job("z = 12"))))
    sent = engine.requests[-1]
    assert text_after_middle(sent.prompt_tokens) == "1" and sent.first_token_prefix == b"2"
    assert result.choices[0].text == " + 3\n", "the client has the '2' already"


def test_engines_that_cannot_heal_get_no_anchors_unless_healing_is_turned_off() -> None:
    completion, engine = anchored_service(heals=False)
    asyncio.run(completion.complete(completion.prepare(job("z = "))))
    asyncio.run(completion.complete(completion.prepare(job("z = 12"))))
    sent = engine.requests[-1]
    assert text_after_middle(sent.prompt_tokens) == "" and sent.first_token_prefix == b""
    engine = FakeEngine(context_length=512, heals_tokens=False)
    options = CompletionOptions(
        typeahead=False, suffix_rank_lines=0, fim_anchor_chars=64, fim_anchor_heal=False
    )
    completion = CompletionService(engine, options)  # speed chosen over quality
    asyncio.run(completion.complete(completion.prepare(job("z = "))))
    asyncio.run(completion.complete(completion.prepare(job("z = 12"))))
    assert text_after_middle(engine.requests[-1].prompt_tokens) == "12"


def test_a_fresh_layout_is_not_healed() -> None:
    completion, engine = anchored_service(heals=True)
    asyncio.run(completion.complete(completion.prepare(job("z = 1"))))
    sent = engine.requests[-1]
    assert sent.prompt_tokens[-1] == MIDDLE and sent.first_token_prefix == b""
