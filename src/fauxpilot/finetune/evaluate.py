"""`finetune evaluate`: the base and the tuned model side by side on the held-out files.

- Perplexity: the held-out files packed into windows of plain next-token text, every token
  weighted the same.
- Infilling exact match: held-out lines hidden one at a time, the model asked for the line
  the way the server asks (prefix, suffix, middle; greedy; one line), right when it writes
  the line exactly (surrounding whitespace aside). A model without FIM tokens is asked with
  the prefix alone.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fauxpilot.finetune.examples import Corpus, FimIds, read_corpus, training_windows
from fauxpilot.finetune.train import (
    MODEL_DIR,
    RunManifest,
    TrainingError,
    end_id,
    fim_ids,
    tokenizer_function,
)

log = logging.getLogger(__name__)

PREFIX_TOKENS = 384
SUFFIX_TOKENS = 128
LINE_TOKENS = 48
MIN_LINE_CHARACTERS = 8


@dataclass(frozen=True)
class Scores:
    perplexity: float
    tokens: int
    exact: int
    lines: int
    with_suffix: bool  # False: the model has no FIM tokens, lines come from the prefix alone

    @property
    def exact_match(self) -> float:
        return self.exact / self.lines if self.lines else 0.0


@dataclass(frozen=True)
class HoleLine:
    prefix: str
    line: str
    suffix: str


def evaluate_run(run: Path, *, lines: int, seq_len: int | None = None) -> dict[str, Scores]:
    """Scores of the run's base model and of the tuned one, on the run's held-out files."""
    manifest = RunManifest.read(run)
    corpus = read_corpus(Path(manifest.data))
    if not corpus.heldout:
        raise TrainingError(f"{manifest.data} has no held-out files to evaluate on")
    length = seq_len or int(manifest.config["seq_len"])
    holes = held_out_lines(corpus, lines)
    results = {}
    for label in ("base", "tuned"):
        model, tokenizer = load_model(manifest, run, tuned=label == "tuned")
        results[label] = score_model(model, tokenizer, corpus, holes, length)
        log.info("%s: %s", label, results[label])
    return results


def load_model(manifest: RunManifest, run: Path, *, tuned: bool) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(manifest.base_checkpoint)
    model: Any
    if tuned and manifest.full:
        model = AutoModelForCausalLM.from_pretrained(str(run / MODEL_DIR), dtype="float32")
    else:
        model = AutoModelForCausalLM.from_pretrained(manifest.base_checkpoint, dtype="float32")
        if tuned:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(run / MODEL_DIR))
    return model.eval(), tokenizer


def score_model(
    model: Any, tokenizer: Any, corpus: Corpus, holes: list[HoleLine], seq_len: int
) -> Scores:
    tokenize = tokenizer_function(tokenizer)
    windows = training_windows(
        corpus.heldout, tokenize, seq_len=seq_len, end=end_id(tokenizer), fim=None,
        fim_rate=0.0, seed=0,
    )  # fmt: skip
    if not windows:
        raise TrainingError(f"the held-out files hold fewer than {seq_len} tokens")
    nll, tokens = _negative_log_likelihood(model, windows)
    fim = fim_ids(tokenizer)
    exact = sum(_writes_line(model, tokenizer, fim, hole) for hole in holes)
    return Scores(math.exp(nll / tokens), tokens, exact, len(holes), fim is not None)


def _negative_log_likelihood(model: Any, windows: list[list[int]]) -> tuple[float, int]:
    import torch

    total, count = 0.0, 0
    with torch.no_grad():
        for window in windows:
            ids = torch.tensor([window])
            loss = model(input_ids=ids, labels=ids).loss  # mean over len - 1 predictions
            total += float(loss) * (len(window) - 1)
            count += len(window) - 1
    return total, count


def held_out_lines(corpus: Corpus, limit: int) -> list[HoleLine]:
    """Up to `limit` non-trivial lines (not a file's first), spread evenly over the held-out
    files."""
    candidates: list[HoleLine] = []
    for text in corpus.heldout:
        lines = text.splitlines(keepends=True)
        for index, line in enumerate(lines):
            if index == 0 or len(line.strip()) < MIN_LINE_CHARACTERS or not line.endswith("\n"):
                continue  # a file's first line has nothing before it to go on
            prefix = "".join(lines[:index]) + line[: len(line) - len(line.lstrip())]
            suffix = "\n" + "".join(lines[index + 1 :])
            candidates.append(HoleLine(prefix, line.strip(), suffix))
    if len(candidates) <= limit:
        return candidates
    step = len(candidates) / limit
    return [candidates[int(i * step)] for i in range(limit)]


def _writes_line(model: Any, tokenizer: Any, fim: FimIds | None, hole: HoleLine) -> bool:
    import torch

    tokenize = tokenizer_function(tokenizer)
    prefix = tokenize(hole.prefix)[-PREFIX_TOKENS:]
    if fim is None:
        ids = prefix
    else:
        suffix = tokenize(hole.suffix)[:SUFFIX_TOKENS]
        ids = [fim.prefix, *prefix, fim.suffix, *suffix, fim.middle]
    with torch.no_grad():
        output = model.generate(
            torch.tensor([ids], dtype=torch.long),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            max_new_tokens=LINE_TOKENS,
            do_sample=False,
            pad_token_id=end_id(tokenizer),
            stop_strings=["\n"],
            tokenizer=tokenizer,
        )
    text = tokenizer.decode(output[0, len(ids) :].tolist(), skip_special_tokens=True)
    return bool(text.split("\n", 1)[0].strip() == hole.line)


def format_scores(results: dict[str, Scores]) -> str:
    base, tuned = results["base"], results["tuned"]
    change = 100 * (tuned.perplexity - base.perplexity) / base.perplexity
    lines = [
        f"held-out perplexity: base {base.perplexity:.3f}, tuned {tuned.perplexity:.3f} "
        f"({change:+.1f}%, {base.tokens} tokens)",
    ]
    if base.lines:
        kind = "infilling" if base.with_suffix else "completion from the prefix (no FIM tokens)"
        lines.append(
            f"held-out line {kind}, exact match: base {100 * base.exact_match:.1f}% "
            f"({base.exact}/{base.lines}), tuned {100 * tuned.exact_match:.1f}% "
            f"({tuned.exact}/{tuned.lines})"
        )
    return "\n".join(lines) + "\n"
