"""Repository context: other files' text placed before the FIM prompt, as the model was
trained to read it (`<file_sep>path\\ntext` per file), within a token budget.
"""

from __future__ import annotations

from collections.abc import Sequence

from fauxpilot.completion.context import keep_head
from fauxpilot.completion.types import ContextFile
from fauxpilot.engine.base import Tokenizer

CONTEXT_SHARE = 0.3  # of the prompt budget, at most, for other files


def context_tokens(
    tokenizer: Tokenizer, separator: int, files: Sequence[ContextFile], budget: int
) -> list[int]:
    """The files that fit in `budget` tokens, the last given (the nearest) first.

    Each file is cut at a line boundary when only its beginning fits. In the prompt the
    nearest file comes last, next to the code being completed.
    """
    chunks: list[list[int]] = []
    remaining = budget
    for file in reversed(files):
        header = tokenizer.tokenize(f"{file.name}\n", special=False)
        room = remaining - 1 - len(header)
        if room <= 0:
            break
        body = tokenizer.tokenize(file.text, special=False)
        kept = keep_head(tokenizer, file.text, body, room)
        if not kept.tokens:
            continue
        chunk = [separator, *header, *kept.tokens]
        chunks.insert(0, chunk)
        remaining -= len(chunk)
    return [token for chunk in chunks for token in chunk]
