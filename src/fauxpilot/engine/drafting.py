"""Draft tokens taken from the sequence itself, for speculative decoding.

Code completions often copy from the surrounding file: after the same few tokens, the same
tokens tend to follow. The draft is what followed the most recent earlier occurrence of the
sequence's last n tokens; one batched model step then checks all of it, and under greedy
decoding the accepted tokens are exactly what one-at-a-time decoding would have produced.
"""

from __future__ import annotations

NGRAM = 3


class NgramDrafter:
    """An index from each n-gram of a token sequence to where its next token stands."""

    def __init__(self, tokens: list[int], n: int = NGRAM) -> None:
        self._n = n
        self._tokens: list[int] = []
        self._followers: dict[tuple[int, ...], int] = {}
        self.extend(tokens)

    def extend(self, tokens: list[int]) -> None:
        for token in tokens:
            length = len(self._tokens)
            if length >= self._n:
                self._followers[tuple(self._tokens[length - self._n :])] = length
            self._tokens.append(token)

    def propose(self, limit: int) -> list[int]:
        """Up to `limit` tokens that followed the last n tokens before; [] if none did."""
        if limit <= 0 or len(self._tokens) < self._n:
            return []
        start = self._followers.get(tuple(self._tokens[-self._n :]))
        if start is None:
            return []
        return self._tokens[start : start + limit]
