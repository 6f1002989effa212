"""`finetune export`: merge the adapters into the base and write a model the server loads.

- `--to gguf` (base from a GGUF): the merged weights in a GGUF with the base's own metadata,
  served by llama.cpp, by default in the base's own quantization (llama.cpp's quantizer), so
  the tuned model has the base's size and speed; `--type f16|f32|q8_0|q4_k_m|...` otherwise.
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


WRITTEN_DIRECTLY = ("f16", "f32", "q8_0")  # hf_to_gguf writes these; the rest are quantized
BASE_TYPE = "base"


def export_run(run: Path, to: ExportFormat, out: Path, tensor_type: str = BASE_TYPE) -> Path:
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
    weights = {name: tensor.detach().float().numpy() for name, tensor in model.state_dict().items()}
    target = out if out.suffix == ".gguf" else out / "model.gguf"
    return write_quantized_gguf(Path(manifest.base_gguf), weights, target, tensor_type)


def write_quantized_gguf(base: Path, weights: dict[str, Any], target: Path, kind: str) -> Path:
    """The weights in a GGUF of `kind`; `base`: the base GGUF's own quantization."""
    from fauxpilot.models.hf_to_gguf import write_gguf
    from fauxpilot.models.quantize import gguf_file_type, quant_name, quantize_gguf

    if kind == BASE_TYPE:
        file_type = gguf_file_type(base)
        kind = "f16" if file_type is None else quant_name(file_type)
        log.info("exporting in the base's quantization, %s", kind)
    if kind in WRITTEN_DIRECTLY:
        return write_gguf(base, weights, target, kind)
    unquantized = target.with_name(target.stem + ".f16.gguf")
    try:
        write_gguf(base, weights, unquantized, "f16")
        return quantize_gguf(unquantized, target, kind)
    finally:
        unquantized.unlink(missing_ok=True)


def _write_checkpoint(model: Any, tokenizer: Any, out: Path) -> Path:
    if out.exists() and any(out.iterdir()):
        raise TrainingError(f"{out} exists and is not empty; choose a new folder")
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    log.info("wrote the merged checkpoint %s", out)
    return out
