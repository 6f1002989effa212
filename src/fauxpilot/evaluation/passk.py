"""pass@k: the chance that at least one of k samples passes, estimated without bias.

With n samples of which c pass, pass@k = 1 - C(n - c, k) / C(n, k) (Chen et al. 2021).
The binomials overflow floats for large n, so the ratio is computed as the product
prod_{i = n - c + 1}^{n} (1 - k / i), which stays within [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

STANDARD_KS = (1, 10, 100)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one task with `n` samples, `c` of them passing."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    ratio = 1.0
    for i in range(n - c + 1, n + 1):
        ratio *= 1.0 - k / i
    return 1.0 - ratio


def ks_for(samples: int) -> list[int]:
    """The standard k values that `samples` completions per task can estimate."""
    return [k for k in STANDARD_KS if k <= samples]


def mean_pass_at_k(outcomes: Sequence[Sequence[bool]], k: int) -> float:
    """pass@k averaged over tasks; each task's list holds one bool per sample."""
    if not outcomes:
        raise ValueError("no tasks to average over")
    scores = [pass_at_k(len(passed), sum(passed), k) for passed in outcomes]
    return sum(scores) / len(scores)
