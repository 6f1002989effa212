"""CTranslate2 batches that only score a prompt: which prompt tokens get log-probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np

from fauxpilot.engine.base import FinishEvent, GenerationRequest, TokenEvent
from fauxpilot.engine.ct2_decode import BatchDecoder, Ct2Job

from .fakes import ByteTokenizer

VOCAB = 300


class ForwardOnly:
    """forward_batch's logits: token t is followed by t + 1 with a high score."""

    def forward_batch(self, batches: list[list[str]]) -> np.ndarray[Any, Any]:
        tokens = [int(name) for name in batches[0]]
        logits = np.zeros((1, len(tokens), VOCAB), dtype=np.float32)
        for row, token in enumerate(tokens):
            logits[0, row, (token + 1) % VOCAB] = 10.0
        return logits


def scores(prompt: list[int], start: int) -> list[TokenEvent]:
    events: list[object] = []
    request = GenerationRequest(
        "score", prompt, max_tokens=0, prompt_logprobs=True, prompt_logprobs_from=start
    )
    decoder = BatchDecoder(
        ForwardOnly(), [str(i) for i in range(VOCAB)], ByteTokenizer(), 64, "cpu"
    )
    decoder.decode([Ct2Job(request, events.append)])
    assert isinstance(events[-1], FinishEvent)
    return [event for event in events if isinstance(event, TokenEvent)]


def test_scores_start_at_the_asked_index_and_equal_full_scoring() -> None:
    prompt = [20, 21, 22, 40, 41]
    full = scores(prompt, 0)
    assert [event.token_id for event in full] == prompt and full[0].logprob is None
    assert full[1].logprob is not None and full[3].logprob is not None
    assert full[1].logprob > -0.1 > full[3].logprob  # 21 follows 20; 40 does not follow 22
    part = scores(prompt, 3)
    assert [event.token_id for event in part] == [40, 41]
    assert [event.logprob for event in part] == [event.logprob for event in full[3:]]
