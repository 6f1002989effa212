"""Prompt building: plain prompts and fill-in-the-middle, driven by the family's data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fauxpilot.completion.context import (
    SUFFIX_SHARE,
    keep_head,
    keep_tail,
    keep_tail_tokens,
    split_budget,
)
from fauxpilot.completion.repo_context import CONTEXT_SHARE, context_tokens
from fauxpilot.completion.types import ContextFile
from fauxpilot.engine.base import Tokenizer
from fauxpilot.models.catalog import PromptFamily


class PromptTooLongError(ValueError):
    """max_tokens leaves no room for any prompt in the context."""


@dataclass(frozen=True)
class PreparedPrompt:
    tokens: list[int]
    text: str  # the prompt text the model saw (after trimming), for echo
    trimmed: bool
    # A FIM prompt's left-to-right alternative (the text before the cursor alone), when the
    # suggestion is picked from both by the code after the cursor (suffix_rank.py).
    left_to_right: PreparedPrompt | None = None
    # Where `text`'s tokens start: after BOS and any prompt-format tokens before the code.
    text_start: int = 0
    # Token healing (healing.py): the bytes of the typed token left out of `tokens`, which
    # the first generated token must start with and the output must not repeat.
    healed: bytes = b""


@dataclass(frozen=True)
class FimTokens:
    prefix: int
    suffix: int
    middle: int
    file_separator: int | None = None


def fim_tokens(tokenizer: Tokenizer, family: PromptFamily) -> FimTokens | None:
    """The family's FIM tokens as ids, or None when the model cannot fill in the middle."""
    if not family.supports_fim:
        return None
    ids = [
        tokenizer.special_token_id(text)
        for text in (family.fim_prefix, family.fim_suffix, family.fim_middle)
        if text is not None
    ]
    if len(ids) != 3 or None in ids:
        return None
    prefix, suffix, middle = (int(token) for token in ids if token is not None)
    separator = tokenizer.special_token_id(family.file_separator) if family.file_separator else None
    return FimTokens(prefix, suffix, middle, separator)


def leading_tokens(tokenizer: Tokenizer) -> list[int]:
    """What every prompt starts with: the BOS token for models that have one."""
    return [] if tokenizer.bos_token_id is None else [tokenizer.bos_token_id]


def room_for_prompt(context_length: int, max_tokens: int, overhead: int) -> int:
    budget = context_length - max_tokens - overhead
    if budget < 1:
        raise PromptTooLongError(
            f"This model's context is {context_length} tokens; max_tokens {max_tokens} plus "
            f"{overhead} prompt-format tokens leave no room for a prompt. Lower max_tokens "
            f"to at most {context_length - overhead - 1}."
        )
    return budget


def build_plain(
    tokenizer: Tokenizer,
    prompt: str,
    context_length: int,
    max_tokens: int,
) -> PreparedPrompt:
    """A raw prompt; special-token text in it is honoured (clients may template FIM)."""
    lead = leading_tokens(tokenizer)
    budget = room_for_prompt(context_length, max_tokens, len(lead))
    tokens = tokenizer.tokenize(prompt, special=True)
    if not lead and not tokens:
        # Nothing to condition on: start a new document, as OpenAI's default prompt does.
        lead = [min(tokenizer.end_token_ids)] if tokenizer.end_token_ids else []
    if len(tokens) <= budget:
        return PreparedPrompt(lead + tokens, prompt, trimmed=False)
    fitted = keep_tail(tokenizer, prompt, tokens, budget)
    return PreparedPrompt(lead + fitted.tokens, fitted.text, trimmed=True)


def build_from_tokens(
    tokenizer: Tokenizer, tokens: list[int], context_length: int, max_tokens: int
) -> PreparedPrompt:
    budget = room_for_prompt(context_length, max_tokens, 0)
    kept = keep_tail_tokens(tokens, budget)
    text = b"".join(tokenizer.piece(token) for token in kept).decode("utf-8", "replace")
    return PreparedPrompt(kept, text, trimmed=len(kept) < len(tokens))


def build_fim(
    tokenizer: Tokenizer,
    fim: FimTokens,
    prefix: str,
    suffix: str,
    context_length: int,
    max_tokens: int,
    *,
    context_files: Sequence[ContextFile] = (),
    suffix_share: float = SUFFIX_SHARE,
    context_share: float = CONTEXT_SHARE,
    middle: str | None = None,
) -> PreparedPrompt:
    """`<prefix-token> P <suffix-token> S <middle-token>`, trimmed to fit around the cursor;
    a client's `middle` text (llama.cpp's /infill `prompt`) goes after the middle token."""
    lead = leading_tokens(tokenizer)
    budget = room_for_prompt(context_length, max_tokens, len(lead) + 3)
    head, line = prefix, middle or ""
    line_tokens = tokenizer.tokenize(line, special=False) if line else []
    if len(line_tokens) > budget // 4:  # a huge line (minified code): keep the plain layout
        head, line, line_tokens = head + line, "", []
    budget -= len(line_tokens)
    repository: list[int] = []
    if context_files and fim.file_separator is not None:
        share = int(budget * context_share)
        repository = context_tokens(tokenizer, fim.file_separator, context_files, share)
        budget -= len(repository)
    head_tokens = tokenizer.tokenize(head, special=False)
    suffix_tokens = tokenizer.tokenize(suffix, special=False)
    keep_prefix, keep_suffix = split_budget(
        len(head_tokens), len(suffix_tokens), budget, suffix_share
    )
    kept_prefix = keep_tail(tokenizer, head, head_tokens, keep_prefix)
    kept_suffix = keep_head(tokenizer, suffix, suffix_tokens, keep_suffix)
    tokens = [
        *lead,
        *repository,
        fim.prefix,
        *kept_prefix.tokens,
        fim.suffix,
        *kept_suffix.tokens,
        fim.middle,
        *line_tokens,
    ]
    return PreparedPrompt(
        tokens,
        kept_prefix.text + line,
        trimmed=kept_prefix.trimmed or kept_suffix.trimmed,
    )


def left_to_right_part(prompt: PreparedPrompt, fim: FimTokens) -> PreparedPrompt:
    """A FIM prompt without its suffix section: `<prefix-token> P`, read left to right.

    It starts with the FIM prompt's own tokens, so it finds them in the KV cache that the
    FIM prompt left behind instead of reading the code before the cursor a second time.
    The model reads a FIM prefix section as plain code and continues it as such.
    """
    tokens = prompt.tokens
    code_start = tokens.index(fim.prefix) + 1
    suffix_at = tokens.index(fim.suffix, code_start)
    middle_at = tokens.index(fim.middle, suffix_at)
    return PreparedPrompt(
        tokens[:suffix_at] + tokens[middle_at + 1 :],
        prompt.text,
        prompt.trimmed,
        text_start=code_start,
        healed=prompt.healed,
    )
