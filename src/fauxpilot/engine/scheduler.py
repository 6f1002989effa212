"""Continuous batching over KV slots, run on the engine's own thread.

Every step builds one batch: the next token of every decoding sequence plus chunks of the
prompts still being read, so newcomers join between steps and long prompts do not stall the
streams already running. Each slot remembers which tokens its KV cache holds; a new request
takes the free slot sharing the longest prefix with it and computes only the rest.

Requests arrive checked (engine/lifecycle.py runs `prompt_problem` on every prompt).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import numpy as np

from fauxpilot.engine.base import (
    EngineError,
    EngineEvent,
    EngineOverloaded,
    FinishEvent,
    GenerationRequest,
    PromptEvent,
    TokenEvent,
    TokenLogprob,
)
from fauxpilot.engine.drafting import NgramDrafter
from fauxpilot.engine.events import Emit
from fauxpilot.engine.sampling import (
    Logits,
    LogProbs,
    adjust_logits,
    log_softmax,
    new_rng,
    sample,
    top_logprobs,
)
from fauxpilot.engine.slots import Slot, SlotMemory, SlotPool
from fauxpilot.engine.token_prefix import TokenPrefixIndex

log = logging.getLogger(__name__)

# Prompt chunks that need logits at every position (echo with logprobs) stay small, since
# llama.cpp keeps a vocabulary-sized row per position.
PROMPT_LOGPROBS_CHUNK = 32
# Prompt tokens per step while other sequences are decoding: a step's time is roughly
# proportional to its tokens, and each running stream waits for the whole step.
PREFILL_WHILE_DECODING = 64
MAX_DRAFT_BACKOFF = 32


class BatchRow(NamedTuple):
    """One token of a step's batch: which sequence's cache it extends, where."""

    token: int
    position: int
    seq_id: int
    wants_logits: bool


class BatchModel(SlotMemory, Protocol):
    """What the scheduler needs of a model (LlamaModel, or a fake in tests)."""

    batch_capacity: int
    context_per_slot: int

    @property
    def n_vocab(self) -> int: ...

    def decode(self, rows: list[BatchRow]) -> None: ...

    def logits(self, batch_index: int) -> Logits: ...

    def piece(self, token_id: int) -> bytes: ...


@dataclass
class Generation:
    """One request being generated: its place in the prompt, its slot, what it sampled."""

    request: GenerationRequest
    emit: Emit
    cancelled: bool = False
    slot: Slot | None = None
    prompt_pos: int = 0
    cached: int = 0
    generated: int = 0
    pending_token: int | None = None
    counts: Counter[int] = field(default_factory=Counter)
    rng: np.random.Generator = field(default_factory=lambda: new_rng(None))
    drafter: NgramDrafter | None = None
    # After a draft that was wholly rejected, skip drafting for a while (doubling each time):
    # a rejected draft costs a wider step and gains nothing.
    draft_cooldown: int = 0
    draft_backoff: int = 1

    @property
    def prefilling(self) -> bool:
        return self.prompt_pos < len(self.request.prompt_tokens)


@dataclass
class Output:
    """A batch row whose logits are read after the step."""

    sequence: Generation
    batch_index: int
    position: int  # of the token in that row
    prompt_index: int | None = None  # scores this prompt token instead of sampling
    drafts: list[int] = field(default_factory=list)  # draft tokens in the rows after it


class Scheduler:
    """Continuous batching of generations over a model's KV slots.

    Owns the waiting and active generations and the SlotPool; its `run` loop is the only
    code that decodes. Other threads may only `submit`, `cancel`, `stop` and read `counts`.
    Never blocks on a client, and never lets one generation's failure pass silently: an
    error in a step fails the generations of that step, each with an error event.
    """

    def __init__(
        self,
        model: BatchModel,
        slots: int,
        max_waiting: int,
        prefill_while_decoding: int = PREFILL_WHILE_DECODING,
        draft_tokens: int = 0,
    ) -> None:
        self._model = model
        self._draft_tokens = draft_tokens
        self._prefill_while_decoding = prefill_while_decoding
        self._slots = SlotPool(model, slots)
        self._max_waiting = max_waiting
        self._inbox: deque[Generation] = deque()
        self._active: list[Generation] = []
        self._wakeup = threading.Condition()
        self._stopping = False
        self._prefix_index = TokenPrefixIndex(model.piece, model.n_vocab)

    def build_token_prefix_index(self) -> None:
        """Ready what healing's first token needs (else the first healed request builds it)."""
        self._prefix_index.build()

    # --- called from other threads -------------------------------------------------------

    def submit(self, sequence: Generation) -> None:
        with self._wakeup:
            if len(self._inbox) >= self._max_waiting:
                raise EngineOverloaded(
                    f"{len(self._inbox)} requests are already waiting; try again shortly"
                )
            sequence.rng = new_rng(sequence.request.sampling.seed)
            self._inbox.append(sequence)
            self._wakeup.notify()

    def cancel(self, sequence: Generation) -> None:
        with self._wakeup:
            sequence.cancelled = True
            self._wakeup.notify()

    def stop(self) -> None:
        with self._wakeup:
            self._stopping = True
            self._wakeup.notify()

    def counts(self) -> tuple[int, int, int]:
        """(active, waiting, free slots); a snapshot, read without stopping the loop."""
        return len(self._active), len(self._inbox), len(self._slots.free())

    # --- the engine thread ---------------------------------------------------------------

    def run(self) -> None:
        while True:
            with self._wakeup:
                while not self._stopping and not self._inbox and not self._active:
                    self._wakeup.wait()
                if self._stopping:
                    break
            try:
                self.step()
            except Exception as error:
                log.exception("engine step failed")
                self._fail_active(error)
        self._fail_active(EngineError("the engine is shutting down"))
        with self._wakeup:
            waiting, self._inbox = list(self._inbox), deque()
        for sequence in waiting:
            _deliver(sequence, EngineError("the engine is shutting down"))

    def step(self) -> None:
        # Free the slots of cancelled sequences first: a client that stopped reading (a stop
        # string, a closed stream) often sends its next request at once, and it should find
        # its own slot, with its cache, free.
        self._reap_cancelled()
        self._admit()
        if not self._active:
            return
        rows, outputs = self._build_batch()
        if not rows:
            return
        started = time.perf_counter()
        self._model.decode(rows)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "step: %d rows of %d sequences, %d with logits, %.1f ms",
                len(rows),
                len({row.seq_id for row in rows}),
                sum(1 for row in rows if row.wants_logits),
                (time.perf_counter() - started) * 1000,
            )
        for output in outputs:
            if output.sequence.cancelled:
                continue
            if output.prompt_index is not None:
                logits = self._model.logits(output.batch_index)
                self._emit_prompt_logprob(output.sequence, logits, output.prompt_index)
            else:
                self._advance(output)

    def _admit(self) -> None:
        while True:
            with self._wakeup:
                free = self._slots.free()
                if not self._inbox or not free:
                    return
                sequence = self._inbox.popleft()
            if sequence.cancelled:
                continue
            try:
                self._assign_slot(sequence, free)
            except EngineError as error:
                _deliver(sequence, error)
                continue
            self._active.append(sequence)

    def _assign_slot(self, sequence: Generation, free: list[Slot]) -> None:
        prompt = sequence.request.prompt_tokens
        limit = len(prompt) - 1  # the last prompt token is read again for its logits
        if sequence.request.prompt_logprobs:
            # The logits that score token i come from position i - 1: recompute from there.
            limit = min(limit, max(sequence.request.prompt_logprobs_from - 1, 0))
        slot, keep = self._slots.take(free, prompt, limit, sequence.request.cache_scope)
        sequence.slot = slot
        sequence.prompt_pos = keep
        sequence.cached = keep
        if sequence.request.prompt_logprobs and sequence.request.prompt_logprobs_from == 0:
            first = prompt[0]
            _deliver(sequence, TokenEvent(first, self._model.piece(first), None, (), True))

    def _reap_cancelled(self) -> None:
        for sequence in [s for s in self._active if s.cancelled]:
            self._release(sequence)

    def _build_batch(self) -> tuple[list[BatchRow], list[Output]]:
        entries: list[BatchRow] = []
        outputs: list[Output] = []
        decoding = [s for s in self._active if s.pending_token is not None and s.slot]
        for number, sequence in enumerate(decoding):
            assert sequence.slot is not None and sequence.pending_token is not None
            slot = sequence.slot
            room = self._model.batch_capacity - len(entries) - (len(decoding) - number)
            drafts = self._drafts_for(sequence, room)
            position = len(slot.tokens)
            outputs.append(Output(sequence, len(entries), position, drafts=drafts))
            for offset, token in enumerate([sequence.pending_token, *drafts]):
                entries.append(BatchRow(token, position + offset, slot.seq_id, True))
                slot.append(token)
            sequence.pending_token = None
        # While others stream, prompt chunks stay small so every step stays short.
        prefill_budget = self._prefill_while_decoding if entries else self._model.batch_capacity
        prefill_end = min(self._model.batch_capacity, len(entries) + prefill_budget)
        for sequence in self._active:
            room = prefill_end - len(entries)
            if room <= 0:
                break
            if sequence.prefilling:
                self._add_prompt_chunk(sequence, room, entries, outputs)
        return entries, outputs

    def _add_prompt_chunk(
        self,
        sequence: Generation,
        room: int,
        entries: list[BatchRow],
        outputs: list[Output],
    ) -> None:
        assert sequence.slot is not None
        request = sequence.request
        prompt = request.prompt_tokens
        scored_from = request.prompt_logprobs_from - 1 if request.prompt_logprobs else len(prompt)
        size = min(room, len(prompt) - sequence.prompt_pos)
        if request.prompt_logprobs:  # every scored row keeps its logits: few per step
            size = min(size, max(scored_from - sequence.prompt_pos, 0) + PROMPT_LOGPROBS_CHUNK)
        slot = sequence.slot
        for position in range(sequence.prompt_pos, sequence.prompt_pos + size):
            last = position == len(prompt) - 1
            scored = position >= scored_from
            if last:
                outputs.append(Output(sequence, len(entries), position))
            elif scored:
                outputs.append(Output(sequence, len(entries), position, position + 1))
            entries.append(BatchRow(prompt[position], position, slot.seq_id, last or scored))
            slot.append(prompt[position])
        sequence.prompt_pos += size

    def _emit_prompt_logprob(self, sequence: Generation, logits: Logits, index: int) -> None:
        token = sequence.request.prompt_tokens[index]
        logprobs = log_softmax(logits)
        top = self._top(logprobs, sequence.request.top_logprobs or 0)
        event = TokenEvent(token, self._model.piece(token), float(logprobs[token]), top, True)
        _deliver(sequence, event)

    def _drafts_for(self, sequence: Generation, room: int) -> list[int]:
        request = sequence.request
        if not self._draft_tokens or not request.sampling.greedy or sequence.slot is None:
            return []
        if sequence.draft_cooldown > 0:
            sequence.draft_cooldown -= 1
            return []
        if sequence.drafter is None:
            sequence.drafter = NgramDrafter(request.prompt_tokens)
        limit = min(
            self._draft_tokens,
            room,
            request.max_tokens - sequence.generated - 1,
            self._model.context_per_slot - len(sequence.slot.tokens) - 2,
        )
        return sequence.drafter.propose(limit)

    def _advance(self, output: Output) -> None:
        """Sample after a decoded token; accept draft tokens for as long as they match."""
        sequence = output.sequence
        if sequence.generated == 0 and not output.drafts:
            prompt_tokens = len(sequence.request.prompt_tokens)
            _deliver(sequence, PromptEvent(prompt_tokens, sequence.cached))
        if sequence.request.max_tokens <= 0:  # only warm the cache with the prompt
            self._finish(sequence, "length")
            return
        slot = sequence.slot
        accepted = 0
        for offset in range(len(output.drafts) + 1):
            logits = self._model.logits(output.batch_index + offset)
            token = self._sample_next(sequence, logits, output.position + offset + 1)
            if token is None:
                break
            if offset < len(output.drafts) and token == output.drafts[offset]:
                accepted += 1
                continue
            sequence.pending_token = token
            break
        if output.drafts:
            _note_draft_outcome(sequence, accepted)
        valid = output.position + 1 + accepted
        if slot is not None:
            self._slots.truncate(slot, valid)  # drops the cells of rejected drafts

    def _sample_next(self, sequence: Generation, logits: Logits, position: int) -> int | None:
        """The next token at `position`, delivered; None when the sequence finished."""
        request = sequence.request
        adjusted = adjust_logits(logits, request.sampling, sequence.counts)
        if request.first_token_prefix and sequence.generated == 0:
            adjusted = self._only_tokens_starting_with(adjusted, request.first_token_prefix)
        token = sample(adjusted, request.sampling, sequence.rng)
        if token in request.stop_token_ids:
            self._finish(sequence, "stop")
            return None
        logprob: float | None = None
        top: tuple[TokenLogprob, ...] = ()
        if request.top_logprobs is not None:
            logprobs = log_softmax(logits)
            logprob = float(logprobs[token])
            top = self._top(logprobs, request.top_logprobs)
        sequence.generated += 1
        sequence.counts[token] += 1
        if sequence.drafter is not None:
            sequence.drafter.extend([token])
        _deliver(sequence, TokenEvent(token, self._model.piece(token), logprob, top))
        context_full = position + 1 >= self._model.context_per_slot
        if sequence.generated >= request.max_tokens or context_full:
            self._finish(sequence, "length")
            return None
        return token

    def _only_tokens_starting_with(self, logits: Logits, prefix: bytes) -> Logits:
        """`logits` with every token whose bytes do not start with `prefix` ruled out."""
        allowed = self._prefix_index.starting_with(prefix)
        if allowed.size == 0:  # cannot happen for a prefix that is a token's own bytes
            return logits
        masked = np.full_like(logits, -np.inf)
        masked[allowed] = logits[allowed]
        return masked

    def _top(self, logprobs: LogProbs, k: int) -> tuple[TokenLogprob, ...]:
        return tuple(
            TokenLogprob(token, self._model.piece(token), value)
            for token, value in top_logprobs(logprobs, k)
        )

    def _finish(self, sequence: Generation, reason: str) -> None:
        event = FinishEvent(
            reason=reason,
            prompt_tokens=len(sequence.request.prompt_tokens),
            completion_tokens=sequence.generated,
            cached_tokens=sequence.cached,
        )
        _deliver(sequence, event)
        self._release(sequence)

    def _release(self, sequence: Generation) -> None:
        if sequence in self._active:
            self._active.remove(sequence)
        if sequence.slot is not None:
            self._slots.release(sequence.slot)
            sequence.slot = None

    def _fail_active(self, error: BaseException) -> None:
        for sequence in list(self._active):
            if sequence.slot is not None:
                self._slots.clear(sequence.slot)
            _deliver(sequence, error)
            self._release(sequence)


def _note_draft_outcome(sequence: Generation, accepted: int) -> None:
    if accepted:
        sequence.draft_backoff = 1
        return
    sequence.draft_cooldown = sequence.draft_backoff
    sequence.draft_backoff = min(2 * sequence.draft_backoff, MAX_DRAFT_BACKOFF)


def _deliver(sequence: Generation, event: EngineEvent | BaseException) -> None:
    if not sequence.cancelled:
        sequence.emit(event)
