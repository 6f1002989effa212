"""`finetune export`: merge the adapters into the base and write a model the server loads.

- `--to gguf` (base from a GGUF): the merged weights in a GGUF with the base's own metadata,
  served by llama.cpp.
- `--to hf`: a Hugging Face checkpoint (safetensors and the tokenizer), served by CTranslate2.

With `--name` the result is imported, so `fauxpilot serve --model NAME` serves it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from fauxpilot.finetune.evaluate import load_model
from fauxpilot.finetune.train import RunManifest, TrainingError

log = logging.getLogger(__name__)

ExportFormat = Literal["gguf", "hf"]


def merged_model(run: Path) -> tuple[Any, Any]:
    """The tuned model as one plain transformers model (LoRA folded into the weights)."""
    manifest = RunManifest.read(run)
    model, tokenizer = load_model(manifest, run, tuned=True)
    if not manifest.full:
        model = model.merge_and_unload()
    return model.eval(), tokenizer


def export_run(run: Path, to: ExportFormat, out: Path, tensor_type: str = "f16") -> Path:
    manifest = RunManifest.read(run)
    model, tokenizer = merged_model(run)
    vocabulary = model.get_input_embeddings().weight.shape[0]
    if vocabulary < len(tokenizer):
        raise TrainingError(
            f"the model has {vocabulary} embeddings for a vocabulary of {len(tokenizer)} tokens"
        )
    if to == "hf":
        return _write_checkpoint(model, tokenizer, out)
    if manifest.base_gguf is None:
        raise TrainingError(
            "the base was a Hugging Face checkpoint, so there is no GGUF to take the tokenizer "
            "and settings from; export with --to hf (served by CTranslate2)"
        )
    from fauxpilot.models.hf_to_gguf import write_gguf

    weights = {name: tensor.detach().float().numpy() for name, tensor in model.state_dict().items()}
    target = out if out.suffix == ".gguf" else out / "model.gguf"
    return write_gguf(Path(manifest.base_gguf), weights, target, tensor_type)


def _write_checkpoint(model: Any, tokenizer: Any, out: Path) -> Path:
    if out.exists() and any(out.iterdir()):
        raise TrainingError(f"{out} exists and is not empty; choose a new folder")
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    log.info("wrote the merged checkpoint %s", out)
    return out
