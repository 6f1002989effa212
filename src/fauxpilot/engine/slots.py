"""KV slots, and which one a new prompt takes with how much of its cache.

Each slot remembers which tokens its KV cache holds. A new prompt takes the free slot that
shares the longest prefix with it; when another slot (busy ones too) holds a much longer
start of the prompt, those cells are copied over instead of computed again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

from fauxpilot.engine.base import common_prefix_length

# A slot takes another slot's cached cells when they cover at least this many more prompt
# tokens than its own: copying a slot's KV buffer costs about as much as reading a few
# tokens on a CPU, reading 32 costs several times more.
MIN_COPIED_TOKENS = 32


class SlotMemory(Protocol):
    """The KV cache operations slots need (LlamaModel, or a fake in tests)."""

    def forget(self, seq_id: int, keep: int) -> bool: ...

    def copy(self, source: int, target: int, keep: int) -> bool: ...


@dataclass
class Slot:
    """One KV sequence of the model and the mirror of what its cache holds.

    `tokens` changes only through `append` (a row of the step being built, whose decode
    fills the cell) and SlotPool's methods, which change the cache and the mirror together.
    """

    seq_id: int
    tokens: list[int] = field(default_factory=list)  # what this slot's KV cache holds
    busy: bool = False
    last_used: float = 0.0
    scope: str = ""  # the cache scope of the request that filled `tokens`

    def append(self, token: int) -> None:
        """A token this step's batch writes at the end of the cache."""
        self.tokens.append(token)


class SlotPool:
    """The model's KV slots: which one a prompt takes, and the cache operations on them.

    Owns every change to a slot's cache cells together with its mirror. Never hands a
    request another cache scope's cells (one scope per API key when keys are on).
    """

    def __init__(self, memory: SlotMemory, count: int) -> None:
        self._memory = memory
        self.slots = [Slot(seq_id) for seq_id in range(count)]

    def free(self) -> list[Slot]:
        return [slot for slot in self.slots if not slot.busy]

    def take(
        self, free: list[Slot], prompt: list[int], limit: int, scope: str = ""
    ) -> tuple[Slot, int]:
        """The free slot for `prompt`, busy now, and how many prompt tokens it has cached.

        At most `limit` tokens are kept: the cells after them are dropped, to be computed
        again (their logits are needed). Only cells of the same cache `scope` are reused.
        """
        cached = {
            slot.seq_id: common_prefix_length(slot.tokens, prompt) if slot.scope == scope else 0
            for slot in self.slots
        }
        slot = max(free, key=lambda s: (cached[s.seq_id], -s.last_used))
        keep = min(self._take_longer_prefix(slot, cached), limit)
        if not self._memory.forget(slot.seq_id, keep):
            keep = 0
        slot.tokens = slot.tokens[:keep]
        slot.busy = True
        slot.scope = scope
        return slot, keep

    def release(self, slot: Slot) -> None:
        slot.busy = False
        slot.last_used = time.monotonic()

    def clear(self, slot: Slot) -> None:
        self._memory.forget(slot.seq_id, 0)
        slot.tokens = []

    def truncate(self, slot: Slot, keep: int) -> None:
        """Drop the cells after the first `keep` (rejected draft tokens)."""
        if len(slot.tokens) > keep:
            self._memory.forget(slot.seq_id, keep)
            del slot.tokens[keep:]

    def _take_longer_prefix(self, slot: Slot, cached: dict[int, int]) -> int:
        """The prompt tokens `slot` holds, after copying in another slot's longer prefix.

        `cached` is how many prompt tokens each slot holds. Any slot, busy ones too, may
        hold the start of the prompt: a request that follows up on a running one (a FIM
        prompt and its left-to-right part) then reads only the rest. A busy slot's tokens
        are all computed at this point of a step.
        """
        shared = cached[slot.seq_id]
        others = [other for other in self.slots if other is not slot]
        if not others:
            return shared
        donor = max(others, key=lambda other: cached[other.seq_id])
        longer = cached[donor.seq_id]
        if longer < shared + MIN_COPIED_TOKENS:
            return shared
        if not self._memory.copy(donor.seq_id, slot.seq_id, longer):
            slot.tokens = []
            return 0
        slot.tokens = donor.tokens[:longer]
        return longer
