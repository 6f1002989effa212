"""Training examples from dataset records: token windows, half of them fill-in-the-middle.

Each file is cut at line boundaries into pieces that fit a window. A piece becomes, with
probability `fim_rate`, a fill-in-the-middle example in the base model's own format
(prefix, suffix, middle: the order the server prompts in), its hole either whole lines, as
an editor's cursor on an empty line makes it, or a span between two random characters.
The pieces, each ended by the end-of-text token, are packed into windows of `seq_len` tokens.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from fauxpilot.finetune.dataset import DatasetError

Tokenize = Callable[[str], list[int]]


@dataclass(frozen=True)
class FimIds:
    prefix: int
    suffix: int
    middle: int


@dataclass(frozen=True)
class Corpus:
    train: list[str]
    heldout: list[str]
    heldout_paths: list[str]


def read_corpus(path: Path) -> Corpus:
    """The texts of a `finetune dataset` file, by split."""
    train: list[str] = []
    heldout: list[str] = []
    paths: list[str] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise DatasetError(f"cannot read {path}: {error}") from error
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            text, split = str(record["text"]), record.get("split", "train")
        except (ValueError, KeyError, TypeError) as error:
            raise DatasetError(f"{path}, line {number}: not a dataset record ({error})") from error
        if split == "heldout":
            heldout.append(text)
            paths.append(str(record.get("path", f"line {number}")))
        else:
            train.append(text)
    if not train:
        raise DatasetError(f"{path} has no training records")
    return Corpus(train, heldout, paths)


def pieces_of(text: str, tokenize: Tokenize, budget: int) -> Iterator[str]:
    """The text cut at line ends into pieces of at most ~`budget` tokens (long lines alone)."""
    piece: list[str] = []
    size = 0
    for line in text.splitlines(keepends=True):
        tokens = len(tokenize(line))
        if piece and size + tokens > budget:
            yield "".join(piece)
            piece, size = [], 0
        piece.append(line)
        size += tokens
    if piece:
        yield "".join(piece)


def fim_example(
    piece: str, tokenize: Tokenize, fim: FimIds, end: int, rng: random.Random
) -> list[int]:
    prefix, middle, suffix = _split_for_fim(piece, rng)
    return [
        fim.prefix,
        *tokenize(prefix),
        fim.suffix,
        *tokenize(suffix),
        fim.middle,
        *tokenize(middle),
        end,
    ]


def _split_for_fim(piece: str, rng: random.Random) -> tuple[str, str, str]:
    lines = piece.splitlines(keepends=True)
    if len(lines) >= 2 and rng.random() < 0.5:
        start = rng.randrange(len(lines))
        stop = min(len(lines), start + rng.randint(1, 3))
        middle = "".join(lines[start:stop])
        # The hole's last newline belongs to the text after the cursor, as in an editor.
        if middle.endswith("\n"):
            return "".join(lines[:start]), middle[:-1], "\n" + "".join(lines[stop:])
        return "".join(lines[:start]), middle, "".join(lines[stop:])
    first, second = sorted(rng.randrange(len(piece) + 1) for _ in range(2))
    return piece[:first], piece[first:second], piece[second:]


def training_windows(
    texts: Sequence[str],
    tokenize: Tokenize,
    *,
    seq_len: int,
    end: int,
    fim: FimIds | None,
    fim_rate: float,
    seed: int,
) -> list[list[int]]:
    """Packed windows of exactly `seq_len` tokens (the tail that does not fill one is dropped)."""
    rng = random.Random(seed)
    stream: list[int] = []
    for text in texts:
        for piece in pieces_of(text, tokenize, seq_len - 8):
            if fim is not None and rng.random() < fim_rate:
                stream.extend(fim_example(piece, tokenize, fim, end, rng))
            else:
                stream.extend([*tokenize(piece), end])
    windows = [stream[i : i + seq_len] for i in range(0, len(stream) - seq_len + 1, seq_len)]
    rng.shuffle(windows)
    return windows
