"""GGUF -> Hugging Face checkpoint: dequantized weights, config and tokenizer.

transformers' own GGUF loader does it where it reads the family and its tokenizer splits text
as llama.cpp does (gguf_transformers.py); this module does it otherwise.

The result is what fine-tuning and the CTranslate2 converter read. Weights come out as
float32 holding exactly the values llama.cpp computes with (the quantized blocks expanded),
so a converted model differs from the GGUF only in how the arithmetic is done.

Supported: the `llama` (Llama, SmolLM, CodeLlama …) and `qwen2` (Qwen2, Qwen2.5-Coder)
architectures, with byte-level BPE vocabularies. llama.cpp's converter permutes the rows of
Llama's query and key projections for its rotary layout; they are put back here.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fauxpilot.models.convert import ConversionError
from fauxpilot.models.gguf_transformers import (
    TokenizerMismatchError,
    convert_with_transformers,
    transformers_reads,
)
from fauxpilot.progress import with_progress

log = logging.getLogger(__name__)

Array = npt.NDArray[np.float32]

SUPPORTED_ARCHITECTURES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM"}

LAYER_TENSORS = {
    "attn_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_q.bias": "self_attn.q_proj.bias",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_v.bias": "self_attn.v_proj.bias",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
GLOBAL_TENSORS = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}

# Token types in GGUF vocabularies (llama.cpp's llama_token_type).
_CONTROL, _USER_DEFINED = 3, 4

# llama.cpp's pre-tokenizer names -> how the Hugging Face tokenizer splits text first.
_QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SUPPORTED_PRETOKENIZERS = ("gpt2", "smollm", "starcoder", "qwen2", "default")


@dataclass(frozen=True)
class GgufModel:
    architecture: str
    fields: dict[str, Any]
    tensor_names: tuple[str, ...]


def read_metadata(path: Path) -> GgufModel:
    reader = _reader(path)
    fields = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        fields[key] = field.contents()
    architecture = str(fields.get("general.architecture", ""))
    return GgufModel(architecture, fields, tuple(t.name for t in reader.tensors))


def convert_gguf_to_hf(source: Path, out: Path) -> Path:
    """Write a Hugging Face checkpoint of the GGUF model `source` into the new folder `out`."""
    if out.exists() and any(out.iterdir()):
        raise ConversionError(f"{out} exists and is not empty; choose a new folder")
    model = read_metadata(source)
    ours = model.architecture in SUPPORTED_ARCHITECTURES
    if not ours and not transformers_reads(model.architecture):
        raise ConversionError(
            f"{source}: architecture {model.architecture!r} is not supported for GGUF -> "
            f"Hugging Face, neither by the installed transformers' GGUF loader nor here "
            f"({', '.join(sorted(SUPPORTED_ARCHITECTURES))})"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        _convert_into(source, model, work, ours)
        if out.exists():
            out.rmdir()
        work.rename(out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    log.info("wrote the Hugging Face checkpoint %s from %s", out, source)
    return out


def _convert_into(source: Path, model: GgufModel, work: Path, ours: bool) -> None:
    """transformers' loader where it reads the family and tokenizes as llama.cpp does, else
    this module's own conversion (which rebuilds llama.cpp's tokenizer exactly)."""
    if transformers_reads(model.architecture):
        try:
            convert_with_transformers(source, work)
            return
        except TokenizerMismatchError as error:
            if not ours:
                raise
            log.info("%s; converting with FauxPilot's own GGUF reader", error)
    config = hf_config(model)
    _write_weights(source, model, config, work)
    (work / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (work / "generation_config.json").write_text(
        json.dumps(_generation_config(config), indent=2) + "\n"
    )
    write_tokenizer(model, work)


def hf_config(model: GgufModel) -> dict[str, Any]:
    """config.json for the architecture, from the GGUF's hyperparameters."""
    arch, fields = model.architecture, model.fields

    def value(key: str, default: Any = None) -> Any:
        return fields.get(f"{arch}.{key}", default)

    heads = int(value("attention.head_count"))
    hidden = int(value("embedding_length"))
    vocab = len(fields["tokenizer.ggml.tokens"])
    config: dict[str, Any] = {
        "architectures": [SUPPORTED_ARCHITECTURES[arch]],
        "model_type": arch,
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": int(value("feed_forward_length")),
        "num_hidden_layers": int(value("block_count")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(value("attention.head_count_kv", heads)),
        "head_dim": int(value("rope.dimension_count", hidden // heads)),
        "hidden_act": "silu",
        "max_position_embeddings": int(value("context_length", 4096)),
        "rms_norm_eps": float(value("attention.layer_norm_rms_epsilon", 1e-6)),
        "rope_theta": float(value("rope.freq_base", 10000.0)),
        "tie_word_embeddings": "output.weight" not in model.tensor_names,
        "torch_dtype": "float32",
        "bos_token_id": _token_id(fields, "bos"),
        "eos_token_id": _token_id(fields, "eos"),
    }
    if arch == "llama":
        config["attention_bias"] = "blk.0.attn_q.bias" in model.tensor_names
        config["mlp_bias"] = False
    else:
        config["use_sliding_window"] = False
    return config


def _generation_config(config: dict[str, Any]) -> dict[str, Any]:
    return {"bos_token_id": config["bos_token_id"], "eos_token_id": config["eos_token_id"]}


def _token_id(fields: dict[str, Any], kind: str) -> int | None:
    found = fields.get(f"tokenizer.ggml.{kind}_token_id")
    return int(found) if found is not None else None


# --- weights ----------------------------------------------------------------------------


def _write_weights(source: Path, model: GgufModel, config: dict[str, Any], out: Path) -> None:
    from safetensors.numpy import save_file

    tensors = dict(hf_tensors(source, model, config))
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})


def hf_tensors(
    source: Path, model: GgufModel, config: dict[str, Any]
) -> Iterator[tuple[str, Array]]:
    """(Hugging Face name, float32 array) for every tensor of the GGUF file."""
    from gguf.quants import dequantize

    for tensor in with_progress(_reader(source).tensors, "dequantizing tensors", "tensor"):
        name = hf_tensor_name(tensor.name)
        values = np.ascontiguousarray(dequantize(tensor.data, tensor.tensor_type), np.float32)
        values = values.reshape([int(n) for n in reversed(tensor.shape.tolist())])
        if model.architecture == "llama" and name.endswith(("q_proj.weight", "k_proj.weight")):
            heads = (
                config["num_attention_heads"] if "q_proj" in name else config["num_key_value_heads"]
            )
            values = unpermute_rotary_rows(values, heads)
        yield name, values


def hf_tensor_name(gguf_name: str) -> str:
    if gguf_name in GLOBAL_TENSORS:
        return GLOBAL_TENSORS[gguf_name]
    parts = gguf_name.split(".", 2)
    if len(parts) == 3 and parts[0] == "blk" and parts[2] in LAYER_TENSORS:
        return f"model.layers.{parts[1]}.{LAYER_TENSORS[parts[2]]}"
    raise ConversionError(f"no Hugging Face name for the GGUF tensor {gguf_name!r}")


def unpermute_rotary_rows(weight: Array, heads: int) -> Array:
    """Undo llama.cpp's reordering of a Llama q/k projection's rows (per head: pairs)."""
    rows = weight.shape[0]
    per_half = rows // heads // 2
    shaped = weight.reshape(heads, per_half, 2, *weight.shape[1:])
    return np.ascontiguousarray(shaped.swapaxes(1, 2).reshape(weight.shape))


def permute_rotary_rows(weight: Array, heads: int) -> Array:
    """llama.cpp's reordering of a Llama q/k projection's rows (the inverse of the above)."""
    rows = weight.shape[0]
    per_half = rows // heads // 2
    shaped = weight.reshape(heads, 2, per_half, *weight.shape[1:])
    return np.ascontiguousarray(shaped.swapaxes(1, 2).reshape(weight.shape))


# --- tokenizer --------------------------------------------------------------------------


def write_tokenizer(model: GgufModel, out: Path) -> None:
    """tokenizer.json and tokenizer_config.json rebuilt from the GGUF vocabulary."""
    from transformers import PreTrainedTokenizerFast

    fields = model.fields
    tokens: list[str] = list(fields["tokenizer.ggml.tokens"])
    backend = build_tokenizer(fields)
    special = {
        kind: tokens[token_id]
        for kind in ("bos", "eos", "unknown", "padding")
        if (token_id := _token_id(fields, kind)) is not None and token_id < len(tokens)
    }
    wrapper = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=backend,
        bos_token=special.get("bos"),
        eos_token=special.get("eos"),
        unk_token=special.get("unknown"),
        pad_token=special.get("padding"),
        clean_up_tokenization_spaces=False,
    )
    template = fields.get("tokenizer.chat_template")
    if template:
        wrapper.chat_template = str(template)
    wrapper.save_pretrained(str(out))


def build_tokenizer(fields: dict[str, Any]) -> Any:
    """A `tokenizers.Tokenizer` equal to llama.cpp's for a byte-level BPE vocabulary."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
    )

    kind = fields.get("tokenizer.ggml.model")
    pre = str(fields.get("tokenizer.ggml.pre", "default"))
    if kind != "gpt2":
        raise ConversionError(
            f"tokenizer model {kind!r} is not supported (only byte-level BPE, 'gpt2')"
        )
    if pre not in SUPPORTED_PRETOKENIZERS:
        raise ConversionError(
            f"pre-tokenizer {pre!r} is not supported (supported: "
            f"{', '.join(SUPPORTED_PRETOKENIZERS)})"
        )
    tokens: list[str] = list(fields["tokenizer.ggml.tokens"])
    pairs = (str(merge).split(" ", 1) for merge in fields["tokenizer.ggml.merges"])
    merges = [(left, right) for left, right in pairs]
    vocab = {token: index for index, token in enumerate(tokens)}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=False))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=pre != "qwen2")
    if pre == "qwen2":
        split = pre_tokenizers.Split(Regex(_QWEN2_SPLIT), behavior="isolated")
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([split, byte_level])
    elif pre in ("smollm", "starcoder"):
        digits = pre_tokenizers.Digits(individual_digits=True)
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([digits, byte_level])
    else:
        tokenizer.pre_tokenizer = byte_level
    tokenizer.decoder = decoders.ByteLevel()
    types = list(fields.get("tokenizer.ggml.token_type", []))
    added = [
        AddedToken(token, special=True, normalized=False)
        for token, token_type in zip(tokens, types, strict=False)
        if token_type in (_CONTROL, _USER_DEFINED)
    ]
    tokenizer.add_special_tokens(added)
    bos = _token_id(fields, "bos")
    if fields.get("tokenizer.ggml.add_bos_token") and bos is not None:
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{tokens[bos]} $A", special_tokens=[(tokens[bos], bos)]
        )
    return tokenizer


def _reader(path: Path) -> Any:
    try:
        from gguf import GGUFReader
    except ImportError as error:
        raise ConversionError(
            "GGUF conversions need the gguf package: pip install 'fauxpilot[convert]'"
        ) from error
    try:
        return GGUFReader(str(path))
    except (OSError, ValueError) as error:
        raise ConversionError(f"cannot read {path} as GGUF: {error}") from error
