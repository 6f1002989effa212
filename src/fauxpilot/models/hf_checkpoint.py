"""Hugging Face checkpoint folders: recognising them, and converting them once for CTranslate2.

A converted copy is cached under `<home>/models/ctranslate2/`, keyed by a fingerprint of the
checkpoint's files (names, sizes, modification times and config.json), so serving the same
checkpoint again starts at once and an edited checkpoint is converted afresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fauxpilot.models.store import ModelFileError
from fauxpilot.progress import Steps

log = logging.getLogger(__name__)

CT2_DIR = "ctranslate2"
WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "tokenizer.model")
CT2_STEPS = ("reading the weights", "reading the tokenizer", "converting", "copying the tokenizer")
# Architectures CTranslate2's Transformers converter handles that complete code.
ARCHITECTURES = {
    "CodeGenForCausalLM": "CodeGen (Salesforce codegen-350M … 16B, mono/multi/nl)",
    "GPTJForCausalLM": "GPT-J",
    "LlamaForCausalLM": "Llama, CodeLlama, SmolLM",
    "MistralForCausalLM": "Mistral",
    "Qwen2ForCausalLM": "Qwen2, Qwen2.5-Coder",
    "GPTBigCodeForCausalLM": "StarCoder, SantaCoder",
    "GPT2LMHeadModel": "GPT-2",
}


@dataclass(frozen=True)
class Checkpoint:
    folder: Path
    architecture: str
    files: tuple[Path, ...]  # every file of the checkpoint, sorted

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        digest.update((self.folder / "config.json").read_bytes())
        for path in self.files:
            stat = path.stat()
            relative = path.relative_to(self.folder).as_posix()
            digest.update(f"{relative}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        return digest.hexdigest()


def is_checkpoint(folder: Path) -> bool:
    return folder.is_dir() and (folder / "config.json").is_file()


def read_checkpoint(folder: Path) -> Checkpoint:
    """The checkpoint in `folder`, checked to have a config, weights and a tokenizer."""
    if not is_checkpoint(folder):
        raise ModelFileError(f"{folder} is not a Hugging Face checkpoint (no config.json)")
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as error:
        raise ModelFileError(f"cannot read {folder / 'config.json'}: {error}") from error
    architectures = config.get("architectures") or []
    architecture = architectures[0] if architectures else ""
    if architecture not in ARCHITECTURES:
        known = ", ".join(sorted(ARCHITECTURES))
        raise ModelFileError(
            f"{folder}: architecture {architecture or 'unknown'!r} is not served "
            f"(the CTranslate2 engine serves {known})"
        )
    if not any(any(folder.glob(pattern)) for pattern in WEIGHT_PATTERNS):
        raise ModelFileError(f"{folder} has no weights (*.safetensors or pytorch_model*.bin)")
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise ModelFileError(
            f"{folder} has no tokenizer ({', '.join(TOKENIZER_FILES)}); copy the tokenizer "
            "files of the model it was trained from into it"
        )
    files = tuple(sorted(path for path in folder.rglob("*") if path.is_file()))
    return Checkpoint(folder, architecture, files)


def converted_path(models_dir: Path, checkpoint: Checkpoint) -> Path:
    return models_dir / CT2_DIR / f"{checkpoint.folder.name}-{checkpoint.fingerprint()[:16]}"


def ensure_converted(models_dir: Path, checkpoint: Checkpoint) -> Path:
    """The CTranslate2 copy of the checkpoint, converted now if it is not cached yet."""
    target = converted_path(models_dir, checkpoint)
    if (target / "model.bin").is_file():
        return target
    convert_to_ctranslate2(checkpoint, target)
    return target


def convert_to_ctranslate2(checkpoint: Checkpoint, target: Path) -> Path:
    """Convert with CTranslate2's own converter, keeping the checkpoint's precision.

    The weights are quantized when loaded (int8 on CPU, float16 on GPU by default), so one
    conversion serves every compute type.
    """
    try:
        from ctranslate2.converters import TransformersConverter
    except ImportError as error:
        raise ModelFileError(
            "serving Hugging Face checkpoints needs CTranslate2, transformers and torch: "
            "pip install 'fauxpilot[hf]'"
        ) from error
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    log.info("converting %s for CTranslate2 (once; cached in %s)", checkpoint.folder, target)
    try:
        with Steps("converting for CTranslate2", CT2_STEPS) as steps:
            converter = _converter_reporting_to(steps, TransformersConverter)
            converter(str(checkpoint.folder), low_cpu_mem_usage=True).convert(str(work), force=True)
            steps.begin(CT2_STEPS[-1])
            _copy_tokenizer(checkpoint.folder, work)
        shutil.rmtree(target, ignore_errors=True)
        work.rename(target)
    except Exception as error:
        shutil.rmtree(work, ignore_errors=True)
        if isinstance(error, ModelFileError):
            raise
        raise ModelFileError(
            f"CTranslate2 could not convert {checkpoint.folder}: {error}"
        ) from error
    return target


def _converter_reporting_to(steps: Steps, converter: type[Any]) -> type[Any]:
    """CTranslate2's converter, marking each of its steps on `steps` as it reaches it."""

    class ReportingConverter(converter):  # type: ignore[misc]
        def load_model(self, *args: Any, **kwargs: Any) -> Any:
            steps.begin(CT2_STEPS[0])
            return super().load_model(*args, **kwargs)

        def load_tokenizer(self, *args: Any, **kwargs: Any) -> Any:
            steps.begin(CT2_STEPS[1])
            tokenizer = super().load_tokenizer(*args, **kwargs)
            steps.begin(CT2_STEPS[2])  # what is left of convert(): build, optimize, save
            return tokenizer

    return ReportingConverter


def _copy_tokenizer(source: Path, target: Path) -> None:
    """Keep the tokenizer beside the converted weights, so serving needs only that folder."""
    tokenizer_dir = target / "hf_tokenizer"
    tokenizer_dir.mkdir()
    for path in source.iterdir():
        is_weight = any(path.match(pattern) for pattern in WEIGHT_PATTERNS)
        if (
            path.is_file()
            and not is_weight
            and path.suffix in (".json", ".txt", ".model", ".jinja")
        ):
            shutil.copy2(path, tokenizer_dir / path.name)
