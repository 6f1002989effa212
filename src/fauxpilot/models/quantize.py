"""GGUF quantization with llama.cpp's own quantizer (`llama_model_quantize`), so that a
fine-tuned model comes back at its base's size and speed instead of 1.8-3.3x larger in f16."""

from __future__ import annotations

import ctypes
import logging
import os
from pathlib import Path

from fauxpilot.models.store import ModelFileError

log = logging.getLogger(__name__)

# llama.cpp's file types (enum llama_ftype) by the names its quantize tool uses.
QUANT_TYPES = {
    "f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q8_0": 7, "q5_0": 8, "q5_1": 9,
    "q2_k": 10, "q3_k_m": 12, "q4_k_s": 14, "q4_k_m": 15, "q5_k_s": 16, "q5_k_m": 17,
    "q6_k": 18, "bf16": 32,
}  # fmt: skip
FILE_TYPE_KEY = "general.file_type"


def quant_name(file_type: int) -> str:
    for name, value in QUANT_TYPES.items():
        if value == file_type:
            return name
    raise ModelFileError(f"file type {file_type} has no quantizer name here")


def gguf_file_type(path: Path) -> int | None:
    """The quantization a GGUF file records (`general.file_type`), or None when unrecorded."""
    import gguf

    field = gguf.GGUFReader(str(path)).fields.get(FILE_TYPE_KEY)
    if field is None or not field.data:
        return None
    return int(field.parts[field.data[0]][0])


def quantize_gguf(source: Path, target: Path, kind: str, threads: int | None = None) -> Path:
    """Write `source` (f16/f32) quantized to `kind` (e.g. q4_k_m) at `target`."""
    import llama_cpp

    if kind not in QUANT_TYPES:
        raise ModelFileError(f"unknown quantization {kind!r}: one of {', '.join(QUANT_TYPES)}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = QUANT_TYPES[kind]
    params.nthread = threads or os.cpu_count() or 1
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("quantizing %s to %s with llama.cpp", source.name, kind)
    status = llama_cpp.llama_model_quantize(
        str(source).encode(), str(target).encode(), ctypes.byref(params)
    )
    if status != 0 or not target.is_file():
        raise ModelFileError(f"llama.cpp could not quantize {source} to {kind} (status {status})")
    return target
