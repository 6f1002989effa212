"""Keystrokes after a FIM prompt the KV cache holds: appended after its middle token.

A keystroke inserts text at the end of the prefix, which in the prefix-first layout
`<pre> P <suf> S <mid>` sits before the suffix: every token of the suffix would have to be
read again (a few hundred tokens, seconds on a small CPU). Instead the prompt laid out for an
earlier request on the same cursor (its *anchor*) is kept as it was, and the characters typed
since go after its middle token, as if the model had written them: `<pre> P <suf> S <mid> t`.
The prompt then only grows at its end, so the cache holds all of it but the typed tokens.

The model reads the typed text as the start of its own answer, which is how it was trained to
continue, but the suffix was read without it; past `max_chars` typed characters (or a changed
suffix, a deletion into the anchor's prefix, other context) the prompt is laid out anew and
becomes the next anchor.

Measured (EVAL.md "FIM anchors"), this costs quality where the typed text ends inside a word:
its last token is then a short piece (` o` of ` operations`) that the model, reading it as
its own output, takes for a finished word. `layout(heal=True)` heals that last token
(healing.py: dropped, and the first generated token constrained to start with its bytes),
which gives the score back on both sets; the service anchors only with healing unless the
user turns healing off (`--no-fim-anchor-heal`).
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from dataclasses import dataclass

from fauxpilot.completion.fim import PreparedPrompt
from fauxpilot.completion.healing import heal_last_token
from fauxpilot.completion.types import ContextFile
from fauxpilot.engine.base import Tokenizer

DEFAULT_CAPACITY = 32
# What all anchors together may hold (their texts and token lists, roughly): a client may
# send prompts up to the body limit, and 32 of those must not pile up in memory.
DEFAULT_BUDGET_BYTES = 64 * 1024 * 1024
TOKEN_BYTES = 8  # a token id, as counted against the budget


@dataclass(frozen=True)
class AnchorKey:
    """What must be equal for a request to type on from an anchor."""

    scope: str
    suffix: str
    context_files: tuple[ContextFile, ...]


@dataclass(frozen=True)
class FimAnchor:
    prefix: str  # the client's prefix when the prompt was laid out
    prompt: PreparedPrompt  # ends with the middle token

    @property
    def size(self) -> int:
        """Roughly the bytes this anchor keeps: its texts and its tokens."""
        return len(self.prefix) + len(self.prompt.text) + TOKEN_BYTES * len(self.prompt.tokens)


class FimAnchors:
    """The last FIM layout per cursor context, to lay out its next keystrokes after it.

    One anchor per key: a newer layout has replaced the older one's suffix in the KV cache,
    so typing on from the older one would cost as much as a new layout. Thread-safe: prompts
    are prepared in worker threads.
    """

    def __init__(
        self,
        max_chars: int,
        capacity: int = DEFAULT_CAPACITY,
        budget_bytes: int = DEFAULT_BUDGET_BYTES,
    ) -> None:
        self._max_chars = max_chars
        self._capacity = capacity
        self._budget = budget_bytes
        self._anchors: OrderedDict[AnchorKey, FimAnchor] = OrderedDict()
        self._held = 0  # the sizes of the anchors held, suffixes of their keys included
        self._lock = threading.Lock()

    def layout(
        self,
        tokenizer: Tokenizer,
        key: AnchorKey,
        prefix: str,
        room: int,
        heal: bool = False,
    ) -> PreparedPrompt | None:
        """The anchor's prompt with the text typed since after it, if one fits in `room`
        tokens (the context less max_tokens); None when the prompt must be laid out anew.

        With `heal` (the engine honours it), the typed text's last token is left for the
        model to choose (healing.py)."""
        found = self._find(key, prefix)
        if found is None:
            return None
        anchor, typed = found
        typed_tokens = tokenizer.tokenize(typed, special=False) if typed else []
        if len(anchor.prompt.tokens) + len(typed_tokens) > room:
            return None
        tokens = [*anchor.prompt.tokens, *typed_tokens]
        healed = b""
        if heal and typed_tokens:
            tokens, healed = heal_last_token(tokens, tokenizer)
        return dataclasses.replace(
            anchor.prompt, tokens=tokens, text=anchor.prompt.text + typed, healed=healed
        )

    def remember(self, key: AnchorKey, prefix: str, prompt: PreparedPrompt) -> None:
        """Keep a freshly laid out FIM prompt (ending with its middle token) as the anchor."""
        anchor = FimAnchor(prefix, prompt)
        if _held_size(key, anchor) > self._budget:
            return  # too large to keep at all
        with self._lock:
            self._forget(key)
            self._anchors[key] = anchor
            self._held += _held_size(key, anchor)
            while len(self._anchors) > self._capacity or self._held > self._budget:
                self._forget(next(iter(self._anchors)))

    def _forget(self, key: AnchorKey) -> None:
        anchor = self._anchors.pop(key, None)
        if anchor is not None:
            self._held -= _held_size(key, anchor)

    def _find(self, key: AnchorKey, prefix: str) -> tuple[FimAnchor, str] | None:
        """The key's anchor and the text typed after it, at most max_chars.

        Clients that send a window of the file before the cursor move its start as the
        cursor moves, so the prefix may begin later in the anchor's prefix than it did; at
        least half of the anchor's prefix must still be there.
        """
        with self._lock:
            anchor = self._anchors.get(key)
            if anchor is None:
                return None
            self._anchors.move_to_end(key)
        known = anchor.prefix
        for typed in range(min(self._max_chars, len(prefix)) + 1):
            body = prefix[: len(prefix) - typed]
            if 2 * len(body) < len(known):
                return None
            if known.endswith(body):
                return anchor, prefix[len(body) :]
        return None


def _held_size(key: AnchorKey, anchor: FimAnchor) -> int:
    return anchor.size + len(key.suffix) + sum(len(file.text) for file in key.context_files)
