"""Token budgets: what to keep of a prompt and suffix that do not fit the context.

Editors cannot know our tokenizer, so an over-long prompt is not an error: we keep the text
nearest the cursor (the end of the prefix, the start of the suffix) and cut at line
boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass

from fauxpilot.engine.base import Tokenizer

SUFFIX_SHARE = 0.25
_MAX_REFITS = 8


@dataclass(frozen=True)
class Fitted:
    text: str
    tokens: list[int]
    trimmed: bool


def split_budget(
    n_prefix: int, n_suffix: int, budget: int, suffix_share: float = SUFFIX_SHARE
) -> tuple[int, int]:
    """How many prefix and suffix tokens to keep within `budget` tokens."""
    if n_prefix + n_suffix <= budget:
        return n_prefix, n_suffix
    suffix_keep = min(n_suffix, max(budget - n_prefix, int(budget * suffix_share)))
    prefix_keep = min(n_prefix, budget - suffix_keep)
    suffix_keep = min(n_suffix, budget - prefix_keep)
    return prefix_keep, suffix_keep


def _decoded_length(tokenizer: Tokenizer, tokens: list[int]) -> int:
    return len(b"".join(tokenizer.piece(token) for token in tokens).decode("utf-8", "ignore"))


def keep_tail(tokenizer: Tokenizer, text: str, tokens: list[int], limit: int) -> Fitted:
    """The end of `text` in at most `limit` tokens, starting at a line start where possible."""
    if len(tokens) <= limit:
        return Fitted(text, tokens, trimmed=False)
    target = limit
    for _ in range(_MAX_REFITS):
        keep = _decoded_length(tokenizer, tokens[-target:]) if target > 0 else 0
        start = len(text) - keep
        if start > 0 and text[start - 1] != "\n":
            newline = text.find("\n", start)
            if newline != -1:
                start = newline + 1
        tail = text[start:]
        tail_tokens = tokenizer.tokenize(tail, special=False)
        if len(tail_tokens) <= limit:
            return Fitted(tail, tail_tokens, trimmed=True)
        target -= len(tail_tokens) - limit
    return Fitted("", [], trimmed=True)


def keep_head(tokenizer: Tokenizer, text: str, tokens: list[int], limit: int) -> Fitted:
    """The start of `text` in at most `limit` tokens, ending after a whole line where possible."""
    if len(tokens) <= limit:
        return Fitted(text, tokens, trimmed=False)
    target = limit
    for _ in range(_MAX_REFITS):
        end = _decoded_length(tokenizer, tokens[:target]) if target > 0 else 0
        newline = text.rfind("\n", 0, end)
        if newline != -1:
            end = newline + 1
        head = text[:end]
        head_tokens = tokenizer.tokenize(head, special=False)
        if len(head_tokens) <= limit:
            return Fitted(head, head_tokens, trimmed=True)
        target -= len(head_tokens) - limit
    return Fitted("", [], trimmed=True)


def keep_tail_tokens(tokens: list[int], limit: int) -> list[int]:
    return tokens[-limit:] if limit > 0 else []
