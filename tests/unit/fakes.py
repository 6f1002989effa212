"""Fakes at the engine boundary: a byte tokenizer and an engine that replays scripts."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field

from fauxpilot.engine.base import (
    ChatTemplateMissing,
    EngineEvent,
    EngineStatus,
    FinishEvent,
    GenerationRequest,
    Health,
    ModelInfo,
    PromptEvent,
    TokenEvent,
    TokenLogprob,
)
from fauxpilot.models.catalog import FAMILIES, PromptFamily

BYTE_OFFSET = 10
SPECIALS = {
    "<|endoftext|>": 0,
    "<|fim_prefix|>": 1,
    "<|fim_suffix|>": 2,
    "<|fim_middle|>": 3,
    "<|file_sep|>": 4,
}


class ByteTokenizer:
    """One token per UTF-8 byte (id = byte + 10), plus a few special tokens."""

    bos_token_id: int | None = None
    end_token_ids = frozenset({0})

    def tokenize(self, text: str, *, special: bool) -> list[int]:
        tokens: list[int] = []
        position = 0
        while position < len(text):
            match = next(
                (name for name in SPECIALS if special and text.startswith(name, position)), None
            )
            if match is not None:
                tokens.append(SPECIALS[match])
                position += len(match)
                continue
            tokens.extend(byte + BYTE_OFFSET for byte in text[position].encode())
            position += 1
        return tokens

    def piece(self, token_id: int) -> bytes:
        if token_id < BYTE_OFFSET:
            return b""
        return bytes([token_id - BYTE_OFFSET])

    def special_token_id(self, text: str) -> int | None:
        return SPECIALS.get(text)

    has_chat_template = True

    def apply_chat_template(self, messages: Sequence[tuple[str, str]]) -> str:
        if not self.has_chat_template:
            raise ChatTemplateMissing("this model has no chat template")
        turns = "".join(f"[{role}]{text}\n" for role, text in messages)
        return turns + "[assistant]"


def pieces_of(text: str) -> list[bytes]:
    return [bytes([byte]) for byte in text.encode()]


@dataclass
class FakeEngine:
    """Replays queued outputs; each script is a list of byte pieces, then an end token."""

    context_length: int = 256
    family: PromptFamily = field(default_factory=lambda: FAMILIES["qwen2.5-coder"])
    scripts: deque[list[bytes]] = field(default_factory=deque)
    default_output: str = "pass\n"
    requests: list[GenerationRequest] = field(default_factory=list)
    aborted: list[str] = field(default_factory=list)
    ready: bool = True
    step_delay: float = 0.0
    # Log-probability of prompt token `index` (for prompt_logprobs); -1.0 when None.
    prompt_logprob: Callable[[list[int], int], float] | None = None
    heals_tokens: bool = False  # claims to honour first_token_prefix (token healing)
    _tokenizer: ByteTokenizer = field(default_factory=ByteTokenizer)

    @property
    def model(self) -> ModelInfo:
        return ModelInfo(
            "fake", "/dev/null", self.context_length, 266, self.family,
            heals_tokens=self.heals_tokens,
        )  # fmt: skip

    @property
    def tokenizer(self) -> ByteTokenizer:
        return self._tokenizer

    def queue_output(self, text: str) -> None:
        self.scripts.append(pieces_of(text))

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[EngineEvent, None]:
        self.requests.append(request)
        script = self.scripts.popleft() if self.scripts else pieces_of(self.default_output)
        if request.prompt_logprobs:
            for index, token in enumerate(request.prompt_tokens):
                if index < request.prompt_logprobs_from:
                    continue
                logprob = None if index == 0 else self._prompt_logprob(request.prompt_tokens, index)
                yield TokenEvent(token, self._tokenizer.piece(token), logprob, (), True)
        yield PromptEvent(len(request.prompt_tokens), 0)
        generated = 0
        finished = False
        try:
            for piece in script:
                if generated >= request.max_tokens:
                    break
                await asyncio.sleep(self.step_delay)
                token = piece[0] + BYTE_OFFSET
                yield self._event(request, token, piece)
                generated += 1
            reason = "length" if generated >= request.max_tokens else "stop"
            finished = True
            yield FinishEvent(reason, len(request.prompt_tokens), generated)
        finally:
            if not finished:
                self.aborted.append(request.request_id)

    def _prompt_logprob(self, prompt: list[int], index: int) -> float:
        return -1.0 if self.prompt_logprob is None else self.prompt_logprob(prompt, index)

    def _event(self, request: GenerationRequest, token: int, piece: bytes) -> TokenEvent:
        if request.top_logprobs is None:
            return TokenEvent(token, piece)
        top = tuple(
            TokenLogprob(token + rank, self._tokenizer.piece(token + rank), -0.5 - rank)
            for rank in range(request.top_logprobs)
        )
        return TokenEvent(token, piece, -0.5, top)

    async def abort(self, request_id: str) -> None:
        self.aborted.append(request_id)

    def health(self) -> Health:
        status = EngineStatus.OK if self.ready else EngineStatus.LOADING
        return Health(status=status, free_slots=1, total_slots=1)

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass
