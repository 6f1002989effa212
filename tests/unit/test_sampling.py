from collections import Counter

import numpy as np

from fauxpilot.engine.base import SamplingParams
from fauxpilot.engine.sampling import (
    adjust_logits,
    log_softmax,
    new_rng,
    sample,
    top_logprobs,
)


def logits_of(values: list[float]) -> np.ndarray:
    return np.array(values, dtype=np.float32)


def test_greedy_takes_the_argmax() -> None:
    assert sample(logits_of([0.1, 3.0, 2.0]), SamplingParams(temperature=0.0), new_rng(0)) == 1


def test_same_seed_same_samples() -> None:
    logits = logits_of(list(np.linspace(0, 1, 50)))
    params = SamplingParams(temperature=1.0, seed=7)
    first = [sample(logits, params, rng) for rng in [new_rng(7)] for _ in range(20)]
    second = [sample(logits, params, rng) for rng in [new_rng(7)] for _ in range(20)]
    assert first == second
    assert len(set(first)) > 1


def test_top_k_one_and_tiny_top_p_are_greedy() -> None:
    logits = logits_of([0.0, 1.0, 5.0, 4.9])
    rng = new_rng(1)
    assert {sample(logits, SamplingParams(temperature=1.5, top_k=1), rng) for _ in range(30)} == {2}
    assert {
        sample(logits, SamplingParams(temperature=1.5, top_p=0.01), rng) for _ in range(30)
    } == {2}


def test_sampling_follows_the_distribution() -> None:
    logits = np.log(logits_of([0.7, 0.2, 0.1]))
    rng = new_rng(3)
    draws = Counter(sample(logits, SamplingParams(temperature=1.0), rng) for _ in range(4000))
    assert abs(draws[0] / 4000 - 0.7) < 0.04
    assert abs(draws[2] / 4000 - 0.1) < 0.03


def test_top_p_over_a_large_vocabulary_keeps_the_nucleus() -> None:
    logits = np.full(5000, -10.0, dtype=np.float32)
    logits[[10, 20]] = [5.0, 4.0]
    rng = new_rng(5)
    seen = {sample(logits, SamplingParams(temperature=1.0, top_p=0.9), rng) for _ in range(200)}
    assert seen <= {10, 20}


def test_logit_bias_and_penalties() -> None:
    logits = logits_of([1.0, 1.0, 1.0])
    biased = adjust_logits(logits, SamplingParams(logit_bias={0: -100.0}), {})
    assert biased[0] == -99.0 and logits[0] == 1.0
    penalized = adjust_logits(
        logits, SamplingParams(presence_penalty=0.5, frequency_penalty=0.25), {1: 2}
    )
    assert penalized.tolist() == [1.0, 0.0, 1.0]
    assert adjust_logits(logits, SamplingParams(), {1: 2}) is logits


def test_log_softmax_and_top_logprobs() -> None:
    logprobs = log_softmax(logits_of([1.0, 3.0, 2.0]))
    assert np.isclose(np.exp(logprobs).sum(), 1.0)
    top = top_logprobs(logprobs, 2)
    assert [token for token, _ in top] == [1, 2]
    assert top[0][1] > top[1][1]
    assert top_logprobs(logprobs, 0) == []
    assert len(top_logprobs(logprobs, 5)) == 3
