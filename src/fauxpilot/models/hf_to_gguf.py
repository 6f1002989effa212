"""Hugging Face weights -> GGUF, for a model whose base came from a GGUF file.

Everything but the weights is copied from the base GGUF: vocabulary, merges, token types,
special token ids, chat template and hyperparameters. So the written model has exactly the
tokenizer the base had (the bug that made the old FasterTransformer pipeline emit garbage was
a vocabulary size that did not match the weights). Tensor names come from the `gguf`
library's own name map (llama.cpp's), for the architectures whose weights transformers and
llama.cpp lay out alike (llama's rotary rows aside, which are permuted back here).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fauxpilot.models.convert import ConversionError
from fauxpilot.models.gguf_to_hf import GgufModel, permute_rotary_rows, read_metadata
from fauxpilot.progress import with_progress

log = logging.getLogger(__name__)

# general.file_type values (llama.cpp's llama_ftype) for the types written here.
FILE_TYPES = {"f32": 0, "f16": 1, "q8_0": 7}
# Architectures written back: transformers' GGUF loader reads their tensors unchanged (or, for
# llama, with the rotary rows permuted, undone below), so writing them back is exact.
# Others (gpt2, bloom, gemma...) are changed on loading and are refused rather than guessed.
WRITABLE_ARCHITECTURES = ("llama", "qwen2", "qwen3", "starcoder2")
ROTARY_BUFFER = "rotary_emb.inv_freq"  # a buffer some checkpoints keep; llama.cpp computes it
COPIED_FROM_BASE = ("rope_freqs.weight",)  # computed, not trained (Llama 3's rope scaling)


def gguf_tensor_namer(architecture: str, blocks: int) -> Callable[[str], str]:
    """The GGUF name llama.cpp gives each Hugging Face tensor of `architecture`, from the
    `gguf` library's name map (built once: ~12 ms, too slow to repeat per tensor)."""
    import gguf

    arch = {name: key for key, name in gguf.MODEL_ARCH_NAMES.items()}.get(architecture)
    if arch is None:
        raise ConversionError(f"the gguf library does not know the architecture {architecture!r}")
    names = gguf.get_tensor_name_map(arch, blocks)

    def gguf_name(hf_name: str) -> str:
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise ConversionError(f"no GGUF name for the tensor {hf_name!r} in {architecture}")
        return str(name)

    return gguf_name


def write_gguf(
    base_gguf: Path,
    weights: Mapping[str, npt.NDArray[np.float32]],
    out: Path,
    tensor_type: str = "f16",
) -> Path:
    """A GGUF with the base's metadata and these (Hugging Face named) float32 weights."""
    import gguf

    if tensor_type not in FILE_TYPES:
        raise ConversionError(f"tensor type {tensor_type!r}: choose {', '.join(FILE_TYPES)}")
    base = read_metadata(base_gguf)
    if base.architecture not in WRITABLE_ARCHITECTURES:
        raise ConversionError(
            f"cannot write the {base.architecture!r} architecture back to GGUF (only "
            f"{', '.join(WRITABLE_ARCHITECTURES)}); export with --to hf"
        )
    _check_vocabulary(base.fields, weights)
    reader = gguf.GGUFReader(str(base_gguf))
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    writer = gguf.GGUFWriter(str(partial), base.architecture)
    _copy_metadata(reader, writer, FILE_TYPES[tensor_type])
    _add_tensors(writer, reader, base, weights, tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    partial.replace(out)
    log.info("wrote %s (%s)", out, tensor_type)
    return out


def _add_tensors(
    writer: Any,
    reader: Any,
    base: GgufModel,
    weights: Mapping[str, npt.NDArray[np.float32]],
    tensor_type: str,
) -> None:
    """Every tensor the base has, in its GGUF name: the tuned ones from `weights`, the
    computed ones (rope frequencies) copied from the base."""
    import gguf

    arch = base.architecture
    heads = int(base.fields[f"{arch}.attention.head_count"])
    kv_heads = int(base.fields.get(f"{arch}.attention.head_count_kv", heads))
    gguf_name = gguf_tensor_namer(arch, int(base.fields[f"{arch}.block_count"]))
    tied = "output.weight" not in base.tensor_names
    written: set[str] = set()
    for hf_name, values in with_progress(list(weights.items()), "writing tensors", "tensor"):
        if (tied and hf_name == "lm_head.weight") or hf_name.endswith(ROTARY_BUFFER):
            continue  # the base reuses the embedding; rotary frequencies are computed
        name = gguf_name(hf_name)
        if name not in base.tensor_names:
            raise ConversionError(f"{hf_name} would be {name}, which the base GGUF has not")
        written.add(name)
        data = np.ascontiguousarray(values, dtype=np.float32)
        if arch == "llama" and name.endswith(("attn_q.weight", "attn_k.weight")):
            data = permute_rotary_rows(data, heads if "attn_q" in name else kv_heads)
        _add_tensor(writer, gguf, name, data, tensor_type)
    for tensor in reader.tensors:
        if tensor.name in COPIED_FROM_BASE and tensor.name not in written:
            writer.add_tensor(tensor.name, np.array(tensor.data, dtype=np.float32))
            written.add(tensor.name)
    if missing := sorted(set(base.tensor_names) - written):
        raise ConversionError(f"the tuned weights lack {len(missing)} of the base's: {missing[:3]}")


def _check_vocabulary(fields: dict[str, Any], weights: Mapping[str, Any]) -> None:
    vocabulary = len(fields["tokenizer.ggml.tokens"])
    rows = weights["model.embed_tokens.weight"].shape[0]
    if rows != vocabulary:
        raise ConversionError(
            f"the embedding has {rows} rows but the base vocabulary has {vocabulary} tokens"
        )


def _copy_metadata(reader: Any, writer: Any, file_type: int) -> None:
    import gguf

    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key in ("general.architecture", "general.file_type"):
            continue
        value_type = field.types[0]
        if value_type == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(key, field.contents(), value_type, sub_type=field.types[1])
        else:
            writer.add_key_value(key, field.contents(), value_type)
    writer.add_uint32("general.file_type", file_type)


def _add_tensor(
    writer: Any, gguf: Any, name: str, data: npt.NDArray[np.float32], kind: str
) -> None:
    # Norms and biases stay float32, as llama.cpp's own converter keeps them.
    if data.ndim == 1 or kind == "f32":
        writer.add_tensor(name, data)
    elif kind == "f16":
        writer.add_tensor(name, data.astype(np.float16))
    else:
        quantized = gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0)
        writer.add_tensor(
            name, quantized, raw_shape=data.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0
        )
