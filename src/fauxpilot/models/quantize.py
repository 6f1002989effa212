"""GGUF quantization with llama.cpp's own quantizer (`llama_model_quantize`), so that a
fine-tuned model comes back at its base's size and speed instead of 1.8-3.3x larger in f16."""

from __future__ import annotations

import ctypes
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fauxpilot.models.store import ModelFileError
from fauxpilot.progress import progress_bar

log = logging.getLogger(__name__)

# llama.cpp's file types (enum llama_ftype) by the names its quantize tool uses.
QUANT_TYPES = {
    "f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q8_0": 7, "q5_0": 8, "q5_1": 9,
    "q2_k": 10, "q3_k_m": 12, "q4_k_s": 14, "q4_k_m": 15, "q5_k_s": 16, "q5_k_m": 17,
    "q6_k": 18, "bf16": 32,
}  # fmt: skip
FILE_TYPE_KEY = "general.file_type"
# llama.cpp's quantizer logs one line per tensor that starts with "[  12/ 291] name ...".
TENSOR_LINE = re.compile(rb"^\[\s*(\d+)/\s*(\d+)\]")


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
    with _tensors_counted(f"quantizing to {kind}"):
        status = llama_cpp.llama_model_quantize(
            str(source).encode(), str(target).encode(), ctypes.byref(params)
        )
    if status != 0 or not target.is_file():
        raise ModelFileError(f"llama.cpp could not quantize {source} to {kind} (status {status})")
    return target


@contextmanager
def _tensors_counted(description: str) -> Iterator[None]:
    """While llama.cpp quantizes, count the tensors it reports on a progress bar.

    Its log lines go to llama.cpp's logger as usual; the engine's log callback is put back
    afterwards.
    """
    import llama_cpp

    from fauxpilot.engine.llamacpp_model import forward_native_log, native_log_callback

    with progress_bar(None, description, unit="tensor") as bar:

        def count_tensors(level: int, text: bytes, user_data: Any) -> None:
            match = TENSOR_LINE.match(text)
            if match:
                bar.total = int(match[2])
                bar.update(int(match[1]) - bar.n)
            forward_native_log(level, text)

        # The ctypes wrapper must outlive the call: llama.cpp keeps only its address.
        callback = llama_cpp.llama_log_callback(count_tensors)
        llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
        try:
            yield
        finally:
            llama_cpp.llama_log_set(native_log_callback(), ctypes.c_void_p(0))
