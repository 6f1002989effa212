"""The Tokenizer interface over a Hugging Face checkpoint's tokenizer (for CTranslate2).

Pieces are raw bytes, as with llama.cpp, so the completion layer can cut streams at UTF-8
boundaries: byte-level BPE tokens (GPT-2, CodeGen, Qwen, StarCoder) map their characters
back to bytes; SentencePiece tokens turn "▁" into a space and "<0xNN>" into that byte.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from fauxpilot.engine.base import ChatTemplateMissing, EngineError

_SENTENCEPIECE_SPACE = "\u2581"


@cache
def _byte_level_table() -> dict[str, int]:
    """GPT-2's reversible map from bytes to printable characters, inverted."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    characters = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            characters.append(256 + extra)
            extra += 1
    return {chr(code): byte for byte, code in zip(printable, characters, strict=True)}


class HfTokenizer:
    def __init__(self, folder: Path) -> None:
        try:
            from transformers import AutoTokenizer
        except ImportError as error:
            raise EngineError(
                "Hugging Face checkpoints need transformers: pip install 'fauxpilot[hf]'"
            ) from error
        self._hf: Any = AutoTokenizer.from_pretrained(str(folder))
        self.size = len(self._hf)
        self._byte_level = _uses_byte_level(folder, self._hf)
        self._special = {
            token: token_id
            for token, token_id in self._hf.get_added_vocab().items()
            if isinstance(token_id, int)
        }
        self._pieces: dict[int, bytes] = {}
        self._bos = self._added_bos()
        self._end_ids = frozenset(self._end_token_ids(folder))

    @property
    def bos_token_id(self) -> int | None:
        return self._bos

    @property
    def end_token_ids(self) -> frozenset[int]:
        return self._end_ids

    def tokenize(self, text: str, *, special: bool) -> list[int]:
        encoded = self._hf(text, add_special_tokens=False, split_special_tokens=not special)
        return list(encoded["input_ids"])

    def piece(self, token_id: int) -> bytes:
        cached = self._pieces.get(token_id)
        if cached is None:
            cached = self._piece_of(str(self._hf.convert_ids_to_tokens(token_id)))
            self._pieces[token_id] = cached
        return cached

    def special_token_id(self, text: str) -> int | None:
        return self._special.get(text)

    def apply_chat_template(self, messages: Sequence[tuple[str, str]]) -> str:
        if not getattr(self._hf, "chat_template", None):
            raise ChatTemplateMissing("this model has no chat template")
        chat = [{"role": role, "content": content} for role, content in messages]
        try:
            return str(
                self._hf.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
            )
        except Exception as error:  # jinja errors: the template refused these messages
            raise ChatTemplateMissing(f"the chat template failed: {error}") from error

    def _piece_of(self, token: str) -> bytes:
        if token in self._special:
            return token.encode("utf-8")
        if self._byte_level:
            table = _byte_level_table()
            if all(character in table for character in token):
                return bytes(table[character] for character in token)
            return token.encode("utf-8")
        if len(token) == 6 and token.startswith("<0x") and token.endswith(">"):
            return bytes([int(token[3:5], 16)])
        return token.replace(_SENTENCEPIECE_SPACE, " ").encode("utf-8")

    def _added_bos(self) -> int | None:
        bos = self._hf.bos_token_id
        if bos is None:
            return None
        with_specials = self._hf("a", add_special_tokens=True)["input_ids"]
        return int(bos) if with_specials and with_specials[0] == bos else None

    def _end_token_ids(self, folder: Path) -> set[int]:
        ends: set[int] = set()
        if self._hf.eos_token_id is not None:
            ends.add(int(self._hf.eos_token_id))
        generation = folder / "generation_config.json"
        if generation.is_file():
            configured = json.loads(generation.read_text()).get("eos_token_id")
            if isinstance(configured, int):
                ends.add(configured)
            elif isinstance(configured, list):
                ends.update(int(token) for token in configured)
        for marker in ("<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|end|>"):
            if marker in self._special:
                ends.add(self._special[marker])
        return ends


def _uses_byte_level(folder: Path, hf: Any) -> bool:
    tokenizer_json = folder / "tokenizer.json"
    if tokenizer_json.is_file():
        decoder = json.loads(tokenizer_json.read_text()).get("decoder") or {}
        kinds = {decoder.get("type")} | {
            step.get("type") for step in decoder.get("decoders", []) if isinstance(step, dict)
        }
        return "ByteLevel" in kinds
    # Slow GPT-2 style tokenizers (vocab.json + merges.txt) are byte-level.
    return (folder / "merges.txt").is_file() or hasattr(hf, "byte_encoder")
