"""Copying one slot's KV cells into another with llama.cpp itself (the scheduler's prefix copy).

Each slot has its own KV stream, so llama.cpp copies the whole buffer at the next decode;
these tests check that the copied cells are the ones a fresh read would compute, also when
that decode writes to the source slot at the same time.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from fauxpilot.config.settings import Settings
from fauxpilot.engine.llamacpp_model import LlamaModel
from fauxpilot.models.catalog import find_entry
from fauxpilot.models.store import ModelStore
from tests.engines import cpu_options

pytestmark = [pytest.mark.integration]

CODE = "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fib"


@pytest.fixture(scope="module")
def llama() -> Iterator[LlamaModel]:
    path = ModelStore(Settings().home).verify(find_entry("smollm2-135m"))
    model = LlamaModel(path, cpu_options(threads=2, context_per_slot=256, slots=3, batch_size=64))
    yield model
    model.close()


Entry = tuple[int, int, int, bool]


def read(
    model: LlamaModel, seq_id: int, tokens: list[int], start: int, extra: tuple[Entry, ...] = ()
) -> np.ndarray:
    """Decode tokens at positions start.. into seq_id; the last one's logits, copied."""
    entries = [
        (token, start + offset, seq_id, offset == len(tokens) - 1)
        for offset, token in enumerate(tokens)
    ]
    model.decode([*extra, *entries])
    return np.array(model.logits(len(extra) + len(entries) - 1))


def test_copied_cells_give_the_logits_of_a_fresh_read(llama: LlamaModel) -> None:
    tokens = llama.vocab.tokenize(CODE, special=False)
    assert len(tokens) > 20
    for seq_id in range(3):
        llama.forget(seq_id, 0)
    fresh = read(llama, 0, tokens, 0)
    assert llama.copy(0, 1, 12)
    # The same decode also writes the source slot's next position.
    source_next = ((tokens[0], len(tokens), 0, False),)
    copied = read(llama, 1, tokens[12:], 12, source_next)
    assert int(np.argmax(copied)) == int(np.argmax(fresh))
    assert np.max(np.abs(copied - fresh)) < 0.05 * np.max(np.abs(fresh))
    # Without the first 12 tokens the model predicts something else: the copy mattered.
    cut = read(llama, 2, tokens[12:], 0)
    assert np.max(np.abs(cut - fresh)) > 1.0
