"""The base model of a fine-tuning run, as a Hugging Face checkpoint.

A catalog name, an imported name or a .gguf file is dequantized once into
`<home>/models/hf/<name>-<sha256 prefix>/` (GGUF -> Hugging Face); a checkpoint folder is
used as it is. The GGUF it came from is remembered, so `finetune export --to gguf` can write
the tuned model with exactly the base's vocabulary, special tokens and hyperparameters.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from fauxpilot.models.gguf_to_hf import convert_gguf_to_hf
from fauxpilot.models.hf_checkpoint import is_checkpoint
from fauxpilot.models.resolve import resolve_model
from fauxpilot.models.store import ModelStore, sha256_of

log = logging.getLogger(__name__)

HF_DIR = "hf"


@dataclass(frozen=True)
class BaseModel:
    spec: str  # what the user gave
    checkpoint: Path  # Hugging Face checkpoint folder
    gguf: Path | None  # the GGUF it was dequantized from, if any


def prepare_base(spec: str, store: ModelStore, *, offline: bool = False) -> BaseModel:
    """The base as a Hugging Face checkpoint, dequantizing a GGUF model on first use."""
    folder = Path(spec).expanduser()
    if is_checkpoint(folder):
        return BaseModel(spec, folder.resolve(), None)
    resolved = resolve_model(spec, store, pull_missing=not offline)
    if resolved.kind == "hf":
        return BaseModel(spec, resolved.path, None)
    digest = sha256_of(resolved.path)
    target = store.models_dir / HF_DIR / f"{resolved.name}-{digest[:16]}"
    if not (target / "config.json").is_file():
        log.info("dequantizing %s into %s (once)", resolved.path, target)
        convert_gguf_to_hf(resolved.path, target)
    return BaseModel(spec, target, resolved.path)
