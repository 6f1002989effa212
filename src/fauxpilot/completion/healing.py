"""Token healing: the last token of typed text is given back to the model to choose.

Typed text cut at the cursor often ends inside a word: ` o` of ` operations`. In a prompt
where the model reads it as its own output (after the FIM middle token, fauxpilot.completion.
anchors), that short token says "the word is `o`", and the model goes on after a finished
word (EVAL.md, "FIM anchors"). Healing drops the typed text's last token from the prompt
and has the engine allow as the first generated token only one whose bytes start with the
dropped token's (` o`, ` op`, ` operations`...), so the model spells the word its own way;
the dropped bytes are cut from the start of the output, since the client has them already.
"""

from __future__ import annotations

from fauxpilot.engine.base import Tokenizer


def heal_last_token(tokens: list[int], tokenizer: Tokenizer) -> tuple[list[int], bytes]:
    """`tokens`, which end with typed text, less their last one, and that token's bytes,
    which the first generated token must start with; `tokens` and b"" when the last token
    has no bytes (a special token)."""
    if not tokens:
        return tokens, b""
    dropped = tokenizer.piece(tokens[-1])
    if not dropped:
        return tokens, b""
    return tokens[:-1], dropped
