"""The batching scheduler against a fake decoder whose KV cache is a list per sequence."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fauxpilot.engine.base import (
    EngineOverloaded,
    FinishEvent,
    GenerationRequest,
    PromptEvent,
    SamplingParams,
    TokenEvent,
)
from fauxpilot.engine.scheduler import BatchRow, Generation, Scheduler

VOCAB = 50
END = 0


class FakeBatchModel:
    """Next token = hash of the sequence's cached context, read in position order."""

    def __init__(self, slots: int, batch_capacity: int = 8, context: int = 64) -> None:
        self.n_vocab = VOCAB
        self.batch_capacity = batch_capacity
        self.context_per_slot = context
        self.positions: dict[int, dict[int, int]] = {seq: {} for seq in range(slots)}
        self.decoded_tokens = 0
        self.steps = 0
        self.rows_per_step: list[int] = []
        self.copies: list[tuple[int, int, int]] = []
        self._rows: list[np.ndarray] = []

    def tokens(self, seq_id: int) -> list[int]:
        cells = self.positions[seq_id]
        return [cells[position] for position in sorted(cells)]

    def forget(self, seq_id: int, keep: int) -> bool:
        self.forget_range(seq_id, keep, -1)
        return True

    def copy(self, source: int, target: int, keep: int) -> bool:
        self.copies.append((source, target, keep))
        self.positions[target] = {p: t for p, t in self.positions[source].items() if p < keep}
        return True

    def forget_range(self, seq_id: int, start: int, end: int) -> None:
        cells = self.positions[seq_id]
        for position in [p for p in cells if p >= start and (end < 0 or p < end)]:
            del cells[position]

    def decode(self, rows: list[BatchRow]) -> None:
        self._rows = []
        for token, position, seq_id, wants in rows:
            cells = self.positions[seq_id]
            assert position not in cells, "a position is computed twice"
            cells[position] = token
            self.decoded_tokens += 1
            context = [cells[p] for p in sorted(cells) if p <= position]
            row = np.zeros(VOCAB, dtype=np.float32)
            row[self.next_token(context)] = 5.0
            self._rows.append(row if wants else np.full(VOCAB, np.nan, dtype=np.float32))
        self.steps += 1
        self.rows_per_step.append(len(rows))

    def next_token(self, context: list[int]) -> int:
        return 1 + sum(context) * 7 % (VOCAB - 1)

    def logits(self, batch_index: int) -> np.ndarray:
        row = self._rows[batch_index]
        assert not np.isnan(row).any(), "logits read where none were asked for"
        return row

    def piece(self, token_id: int) -> bytes:
        return bytes([65 + token_id % 26])


def request(name: str, prompt: list[int], max_tokens: int = 6) -> GenerationRequest:
    return GenerationRequest(
        request_id=name,
        prompt_tokens=prompt,
        max_tokens=max_tokens,
        sampling=SamplingParams(temperature=0.0),
        stop_token_ids=frozenset({END}),
    )


def finished(events: list[object]) -> bool:
    return bool(events) and isinstance(events[-1], FinishEvent)


def run(scheduler: Scheduler, sequences: list[Generation], events: dict[str, list[object]]) -> None:
    for sequence in sequences:
        scheduler.submit(sequence)
    for _ in range(200):
        scheduler.step()
        if all(finished(events[s.request.request_id]) for s in sequences):
            return
    raise AssertionError("sequences did not finish")


def make(name: str, prompt: list[int], events: dict[str, list[object]], **kw: int) -> Generation:
    events[name] = []
    return Generation(request(name, prompt, **kw), events[name].append)


def tokens_of(events: list[object]) -> list[int]:
    return [event.token_id for event in events if isinstance(event, TokenEvent)]


def test_batched_greedy_equals_solo() -> None:
    prompts = {"a": [3, 4, 5, 6, 7, 8, 9, 10, 11, 12], "b": [5, 5], "c": [9, 8, 7, 6, 5]}
    solo: dict[str, list[int]] = {}
    for name, prompt in prompts.items():
        events: dict[str, list[object]] = {}
        run(Scheduler(FakeBatchModel(1), 1, 8), [make(name, prompt, events)], events)
        solo[name] = tokens_of(events[name])
    events = {}
    batched = [make(name, prompt, events) for name, prompt in prompts.items()]
    run(Scheduler(FakeBatchModel(3), 3, 8), batched, events)
    assert {name: tokens_of(events[name]) for name in prompts} == solo
    assert all(len(tokens) == 6 for tokens in solo.values())


def test_next_request_reuses_the_slot_with_the_longest_prefix() -> None:
    decoder = FakeBatchModel(2, batch_capacity=64)
    scheduler = Scheduler(decoder, 2, 8)
    events: dict[str, list[object]] = {}
    run(
        scheduler,
        [make("one", list(range(1, 30)), events), make("two", list(range(40, 45)), events)],
        events,
    )
    before = decoder.decoded_tokens
    run(scheduler, [make("three", [*range(1, 30), 33], events)], events)
    finish = events["three"][-1]
    assert isinstance(finish, FinishEvent)
    assert finish.cached_tokens == 29
    # only the new prompt token and the generated ones were computed
    assert decoder.decoded_tokens - before == 1 + 5


def test_identical_prompt_recomputes_only_its_last_token() -> None:
    decoder = FakeBatchModel(1, batch_capacity=64)
    scheduler = Scheduler(decoder, 1, 8)
    events: dict[str, list[object]] = {}
    run(scheduler, [make("one", [1, 2, 3, 4], events)], events)
    run(scheduler, [make("again", [1, 2, 3, 4], events)], events)
    assert tokens_of(events["one"]) == tokens_of(events["again"])
    finish = events["again"][-1]
    assert isinstance(finish, FinishEvent) and finish.cached_tokens == 3


def test_long_prompts_are_prefilled_in_chunks_beside_running_decodes() -> None:
    decoder = FakeBatchModel(2, batch_capacity=16)
    scheduler = Scheduler(decoder, 2, 8, prefill_while_decoding=3)
    events: dict[str, list[object]] = {}
    short = make("short", [1, 2], events, max_tokens=20)
    scheduler.submit(short)
    scheduler.step()
    long = make("long", list(range(1, 40)), events)
    scheduler.submit(long)
    produced_during_prefill = 0
    while long.prefilling:
        before = len(tokens_of(events["short"]))
        scheduler.step()
        produced_during_prefill += len(tokens_of(events["short"])) - before
    assert produced_during_prefill >= 9  # the short stream advanced on every step


def test_cancelled_sequence_frees_its_slot() -> None:
    decoder = FakeBatchModel(1)
    scheduler = Scheduler(decoder, 1, 8)
    events: dict[str, list[object]] = {}
    first = make("first", [1, 2, 3], events, max_tokens=50)
    scheduler.submit(first)
    scheduler.step()
    scheduler.step()
    scheduler.cancel(first)
    waiting = make("waiting", [4, 5], events)
    run(scheduler, [waiting], events)
    assert isinstance(events["waiting"][-1], FinishEvent)
    assert scheduler.counts() == (0, 0, 1)
    assert not any(isinstance(event, FinishEvent) for event in events["first"])


def test_end_token_finishes_with_stop() -> None:
    class EndingDecoder(FakeBatchModel):
        def logits(self, batch_index: int) -> np.ndarray:
            row = np.zeros(VOCAB, dtype=np.float32)
            row[END] = 1.0
            return row

    events: dict[str, list[object]] = {}
    run(Scheduler(EndingDecoder(1), 1, 8), [make("e", [1], events)], events)
    assert events["e"] == [PromptEvent(1, 0), FinishEvent("stop", 1, 0, 0)]


def test_full_queue_is_refused() -> None:
    scheduler = Scheduler(FakeBatchModel(1), 1, max_waiting=1)
    events: dict[str, list[object]] = {}
    scheduler.submit(make("a", [1], events))
    with pytest.raises(EngineOverloaded):
        scheduler.submit(make("b", [1], events))


class CyclingDecoder(FakeBatchModel):
    """Counts 1..5 over and over, except that position 20 says 9: drafts mostly match."""

    def next_token(self, context: list[int]) -> int:
        if len(context) == 20:
            return 9
        return context[-1] % 5 + 1


@pytest.mark.parametrize("max_tokens", [30, 13])
def test_speculative_drafts_give_the_same_tokens_in_fewer_steps(max_tokens: int) -> None:
    outputs = {}
    steps = {}
    for drafts in (0, 4):
        decoder = CyclingDecoder(1, batch_capacity=16)
        events: dict[str, list[object]] = {}
        scheduler = Scheduler(decoder, 1, 8, draft_tokens=drafts)
        run(scheduler, [make("s", [1, 2, 3, 4, 5, 1, 2], events, max_tokens=max_tokens)], events)
        outputs[drafts] = tokens_of(events["s"])
        steps[drafts] = decoder.steps
        finish = events["s"][-1]
        assert isinstance(finish, FinishEvent) and finish.completion_tokens == max_tokens
        # the cache holds exactly the prompt and the generated tokens that were decoded
        assert decoder.tokens(0) == [1, 2, 3, 4, 5, 1, 2, *outputs[drafts][:-1]]
    assert outputs[4] == outputs[0]
    assert 9 in outputs[0] or max_tokens < 14
    assert steps[4] < steps[0]


class ContraryDecoder(FakeBatchModel):
    """Says 1, 2, 3, then a new number each time: a draft after 1, 2, 3 is always wrong."""

    def next_token(self, context: list[int]) -> int:
        cycle = len(context) % 4
        return cycle + 1 if cycle < 3 else 10 + len(context) // 4


def test_rejected_drafts_back_off() -> None:
    outputs = {}
    widened = {}
    for drafts in (0, 4):
        decoder = ContraryDecoder(1, batch_capacity=16)
        events: dict[str, list[object]] = {}
        scheduler = Scheduler(decoder, 1, 8, draft_tokens=drafts)
        run(scheduler, [make("s", [1, 2, 3, 4], events, max_tokens=60)], events)
        outputs[drafts] = tokens_of(events["s"])
        widened[drafts] = sum(1 for rows in decoder.rows_per_step[1:] if rows > 1)
    assert outputs[4] == outputs[0]
    assert widened[0] == 0
    assert 0 < widened[4] <= 6  # without backing off, a draft every fourth step: 15


def test_zero_max_tokens_only_reads_the_prompt() -> None:
    decoder = FakeBatchModel(1, batch_capacity=64)
    scheduler = Scheduler(decoder, 1, 8)
    events: dict[str, list[object]] = {}
    run(scheduler, [make("warm", [1, 2, 3, 4], events, max_tokens=0)], events)
    assert events["warm"] == [PromptEvent(4, 0), FinishEvent("length", 4, 0, 0)]
    assert decoder.tokens(0) == [1, 2, 3, 4]


def test_a_cancelled_sequence_leaves_its_slot_to_the_next_request_at_once() -> None:
    decoder = FakeBatchModel(2, batch_capacity=64)
    scheduler = Scheduler(decoder, 2, 8)
    events: dict[str, list[object]] = {}
    first = make("first", list(range(1, 30)), events, max_tokens=50)
    scheduler.submit(first)
    scheduler.step()
    scheduler.step()
    scheduler.cancel(first)  # the client stopped reading, e.g. at a stop string
    run(scheduler, [make("again", list(range(1, 30)), events, max_tokens=2)], events)
    finish = events["again"][-1]
    assert isinstance(finish, FinishEvent) and finish.cached_tokens == 28


def test_prompt_logprobs_from_an_index_reuse_the_cache_and_equal_full_scoring() -> None:
    prompt = [*range(1, 21), 21, 22, 23]
    events: dict[str, list[object]] = {}
    full = make("full", prompt, events, max_tokens=0)
    full.request = dataclasses.replace(full.request, prompt_logprobs=True)
    run(Scheduler(FakeBatchModel(1, batch_capacity=64), 1, 8), [full], events)
    full_scores = [e.logprob for e in events["full"] if isinstance(e, TokenEvent)]
    assert len(full_scores) == len(prompt) and full_scores[0] is None

    decoder = FakeBatchModel(1, batch_capacity=64)
    scheduler = Scheduler(decoder, 1, 8)
    run(scheduler, [make("before", prompt[:20], events, max_tokens=0)], events)
    before = decoder.decoded_tokens
    scored = make("scored", prompt, events, max_tokens=0)
    scored.request = dataclasses.replace(
        scored.request, prompt_logprobs=True, prompt_logprobs_from=20
    )
    run(scheduler, [scored], events)
    tokens = [e for e in events["scored"] if isinstance(e, TokenEvent)]
    assert [e.token_id for e in tokens] == [21, 22, 23]
    assert all(e.is_prompt for e in tokens)
    assert [e.logprob for e in tokens] == full_scores[20:]
    # position 19 is read again (its logits score token 20); the 19 before it come cached
    assert decoder.decoded_tokens - before == 4
    finish = events["scored"][-1]
    assert isinstance(finish, FinishEvent) and finish.cached_tokens == 19


def test_a_request_copies_the_prefix_a_busy_slot_holds() -> None:
    shared = list(range(1, 41))
    solo: dict[str, list[object]] = {}
    alone = Scheduler(FakeBatchModel(1, batch_capacity=64), 1, 8)
    run(alone, [make("solo", [*shared, 7], solo)], solo)

    decoder = FakeBatchModel(2, batch_capacity=64)
    scheduler = Scheduler(decoder, 2, 8)
    events: dict[str, list[object]] = {}
    running = make("running", [*shared, 3, 4], events, max_tokens=30)
    scheduler.submit(running)
    scheduler.step()  # reads the whole prompt and starts decoding
    run(scheduler, [make("follow", [*shared, 7], events)], events)
    assert decoder.copies == [(0, 1, 40)]
    finish = events["follow"][-1]
    assert isinstance(finish, FinishEvent) and finish.cached_tokens == 40
    # the copied cells give the same tokens as reading the prompt afresh
    assert tokens_of(events["follow"]) == tokens_of(solo["solo"])


def test_a_short_shared_start_is_read_again_not_copied() -> None:
    decoder = FakeBatchModel(2, batch_capacity=64)
    scheduler = Scheduler(decoder, 2, 8)
    events: dict[str, list[object]] = {}
    scheduler.submit(make("running", [*range(1, 11), 3, 4], events, max_tokens=30))
    scheduler.step()
    run(scheduler, [make("follow", [*range(1, 11), 7], events)], events)
    assert decoder.copies == []
    finish = events["follow"][-1]
    assert isinstance(finish, FinishEvent) and finish.cached_tokens == 0
