"""What the server made of a request: the prompt the model reads and the budgets that shaped
it, for a person asking why a suggestion came out as it did (the playground's "why" panel).

Plain data (JSON-ready); the HTTP layer decides who may read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fauxpilot.completion.fim import PreparedPrompt
from fauxpilot.completion.languages import rules_for
from fauxpilot.completion.service import PreparedJob
from fauxpilot.completion.types import CompletionOptions
from fauxpilot.engine.base import ModelInfo, Tokenizer

# A prompt is shown whole up to this many characters, else its start and end around a mark.
MAX_SHOWN_CHARS = 20_000


@dataclass(frozen=True)
class PromptExplanation:
    """One request's prompts as the model saw them, and why they look so."""

    completion_id: str
    body: dict[str, Any]


def explain(
    prepared: PreparedJob, model: ModelInfo, tokenizer: Tokenizer, options: CompletionOptions
) -> PromptExplanation:
    job = prepared.job
    budget = min(model.context_length, options.max_prompt_tokens + job.max_tokens) - job.max_tokens
    sent_prompt = job.prompts[0] if job.prompts and isinstance(job.prompts[0], str) else None
    body: dict[str, Any] = {
        "model": model.name,
        "family": model.family.name,
        "language": rules_for(job.language, job.path).id,
        "sent": {
            "prompt_chars": len(sent_prompt) if sent_prompt is not None else None,
            "suffix_chars": None if job.suffix is None else len(job.suffix),
            "context_files": len(job.context_files),
            "max_tokens": job.max_tokens,
            "stop": list(job.stop),
        },
        "budget": {
            "context_length": model.context_length,
            "prompt_tokens": budget,
            "suffix_share": options.suffix_share,
            "context_share": options.context_share,
        },
        "prompts": [_prompt_view(prompt, model, tokenizer) for prompt in prepared.prompts],
    }
    return PromptExplanation(job.request_id, body)


def _prompt_view(prompt: PreparedPrompt, model: ModelInfo, tokenizer: Tokenizer) -> dict[str, Any]:
    return {
        "layout": _layout_name(prompt, model, tokenizer),
        "tokens": len(prompt.tokens),
        "trimmed": prompt.trimmed,
        "ranked_with_left_to_right": prompt.left_to_right is not None,
        "healed_text": prompt.healed.decode("utf-8", "replace") if prompt.healed else "",
        "text": _shown(render_tokens(prompt.tokens, model, tokenizer)),
    }


def render_tokens(tokens: list[int], model: ModelInfo, tokenizer: Tokenizer) -> str:
    """The prompt's text with the format's special tokens spelled out (their pieces are empty)."""
    specials = _special_texts(model, tokenizer)
    pieces = (specials.get(token) or tokenizer.piece(token) for token in tokens)
    return b"".join(pieces).decode("utf-8", "replace")


def _special_texts(model: ModelInfo, tokenizer: Tokenizer) -> dict[int, bytes]:
    family = model.family
    named = (family.fim_prefix, family.fim_suffix, family.fim_middle, family.file_separator)
    texts: dict[int, bytes] = {}
    for text in named:
        token = tokenizer.special_token_id(text) if text else None
        if text and token is not None:
            texts[token] = text.encode()
    if tokenizer.bos_token_id is not None:
        texts.setdefault(tokenizer.bos_token_id, b"<BOS>")
    return texts


def _layout_name(prompt: PreparedPrompt, model: ModelInfo, tokenizer: Tokenizer) -> str:
    family = model.family
    middle = tokenizer.special_token_id(family.fim_middle) if family.fim_middle else None
    if middle is None or middle not in prompt.tokens:
        return "left-to-right"
    if prompt.tokens[-1] == middle:
        return "fill-in-the-middle"
    # FIM anchors and /infill's `prompt` put text after the middle token.
    return "fill-in-the-middle, text after the middle token"


def _shown(text: str) -> str:
    if len(text) <= MAX_SHOWN_CHARS:
        return text
    half = MAX_SHOWN_CHARS // 2
    return f"{text[:half]}\n… {len(text) - 2 * half} characters not shown …\n{text[-half:]}"
