"""Choosing the next token from logits, as small pure functions over NumPy arrays."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from fauxpilot.engine.base import SamplingParams

Logits = npt.NDArray[np.float32]
LogProbs = npt.NDArray[np.float64]

# top_p looks at this many of the most likely tokens first; a flatter distribution falls
# back to a full sort.
_TOP_P_CANDIDATES = 2048


def adjust_logits(
    logits: Logits, params: SamplingParams, generated_counts: Mapping[int, int]
) -> Logits:
    """Logit bias and OpenAI's presence/frequency penalties; returns `logits` if none apply."""
    penalize = (params.presence_penalty or params.frequency_penalty) and generated_counts
    if not params.logit_bias and not penalize:
        return logits
    adjusted = logits.copy()
    if params.logit_bias:
        ids, values = params.logit_bias_arrays
        adjusted[ids] += values
    if penalize:
        ids = np.fromiter(generated_counts.keys(), dtype=np.int64)
        counts = np.fromiter(generated_counts.values(), dtype=np.float32)
        adjusted[ids] -= counts * params.frequency_penalty + params.presence_penalty
    return adjusted


def log_softmax(logits: Logits) -> LogProbs:
    shifted = logits.astype(np.float64) - float(np.max(logits))
    return shifted - float(np.log(np.exp(shifted).sum()))


def top_logprobs(logprobs: LogProbs, k: int) -> list[tuple[int, float]]:
    if k <= 0:
        return []
    best = np.argpartition(-logprobs, k)[:k] if k < logprobs.size else np.arange(logprobs.size)
    best = best[np.argsort(-logprobs[best])]
    return [(int(token), float(logprobs[token])) for token in best]


def sample(logits: Logits, params: SamplingParams, rng: np.random.Generator) -> int:
    if params.greedy:
        return int(np.argmax(logits))
    candidates = _candidate_ids(logits, params.top_k)
    scaled = logits[candidates].astype(np.float64) / params.temperature
    probs = np.exp(scaled - scaled.max())
    probs /= probs.sum()
    if params.top_p < 1.0:
        candidates, probs = _nucleus(candidates, probs, params.top_p)
    cumulative = np.cumsum(probs)
    choice = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
    return int(candidates[min(choice, candidates.size - 1)])


def _candidate_ids(logits: Logits, top_k: int) -> npt.NDArray[np.int64]:
    if 0 < top_k < logits.size:
        return np.argpartition(-logits, top_k)[:top_k].astype(np.int64)
    return np.arange(logits.size, dtype=np.int64)


def _nucleus(
    candidates: npt.NDArray[np.int64], probs: npt.NDArray[np.float64], top_p: float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The smallest set of most likely candidates whose probability reaches top_p."""
    if probs.size > _TOP_P_CANDIDATES:
        head = np.argpartition(-probs, _TOP_P_CANDIDATES)[:_TOP_P_CANDIDATES]
        order = head[np.argsort(-probs[head])]
        if probs[order].sum() < top_p:
            order = np.argsort(-probs)
    else:
        order = np.argsort(-probs)
    cumulative = np.cumsum(probs[order])
    keep = int(np.searchsorted(cumulative, top_p, side="left")) + 1
    kept = order[:keep]
    return candidates[kept], probs[kept]


def new_rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(seed)
