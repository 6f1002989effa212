"""Checkpoint conversions: CodeGen -> GPT-J (the weight re-arrangement FauxPilot used so that
engines that only know GPT-J can serve CodeGen).

CodeGen and GPT-J share the block: one layer norm feeding attention and MLP in parallel,
rotary embeddings on the first `rotary_dim` channels of each head, rotated in pairs. They
differ in how attention's input projection is stored: CodeGen fuses q, k and v into one
`qkv_proj` laid out in `mp_num` (4) slices of [q | v | k], GPT-J keeps three matrices.

Needs PyTorch and transformers (`pip install -e '.[convert]'`); they are imported on use.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from fauxpilot.errors import UserError

log = logging.getLogger(__name__)

CODEGEN_SLICES = 4  # CodeGen's `mp_num`: the fused projection was trained sharded 4 ways
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
    "merges.txt",
    "special_tokens_map.json",
    "added_tokens.json",
)


class ConversionError(UserError, ValueError):
    pass


def split_codegen_qkv(qkv: Any, embed_dim: int) -> tuple[Any, Any, Any]:
    """CodeGen's fused (3E, E) `qkv_proj` weight as GPT-J's q, k and v (E, E) weights."""
    if qkv.shape != (3 * embed_dim, embed_dim):
        raise ConversionError(f"qkv_proj has shape {tuple(qkv.shape)}, expected (3E, E)")
    local_dim = embed_dim // CODEGEN_SLICES
    slices = qkv.reshape(CODEGEN_SLICES, 3, local_dim, embed_dim)
    query, value, key = slices[:, 0], slices[:, 1], slices[:, 2]
    return (
        query.reshape(embed_dim, embed_dim),
        key.reshape(embed_dim, embed_dim),
        value.reshape(embed_dim, embed_dim),
    )


def gptj_config_for(codegen: Any) -> Any:
    from transformers import GPTJConfig

    return GPTJConfig(
        vocab_size=codegen.vocab_size,
        n_positions=codegen.n_positions,
        n_embd=codegen.n_embd,
        n_layer=codegen.n_layer,
        n_head=codegen.n_head,
        rotary_dim=codegen.rotary_dim,
        n_inner=codegen.n_inner,
        activation_function=codegen.activation_function,
        layer_norm_epsilon=codegen.layer_norm_epsilon,
        bos_token_id=codegen.bos_token_id,
        eos_token_id=codegen.eos_token_id,
        tie_word_embeddings=False,
    )


def gptj_state_dict(codegen_state: dict[str, Any], embed_dim: int) -> dict[str, Any]:
    """Rename CodeGen's weights to GPT-J's and split every fused qkv projection."""
    converted: dict[str, Any] = {}
    for name, tensor in codegen_state.items():
        if name.endswith("attn.causal_mask") or name.endswith("attn.masked_bias"):
            continue  # buffers, rebuilt by the model
        if name.endswith("attn.qkv_proj.weight"):
            prefix = name[: -len("qkv_proj.weight")]
            query, key, value = split_codegen_qkv(tensor, embed_dim)
            converted[prefix + "q_proj.weight"] = query.clone()
            converted[prefix + "k_proj.weight"] = key.clone()
            converted[prefix + "v_proj.weight"] = value.clone()
        else:
            converted[name] = tensor
    return converted


def convert_codegen_to_gptj(source: Path, target: Path) -> Path:
    """Write a GPT-J checkpoint equivalent to the CodeGen checkpoint in `source`."""
    try:
        from transformers import CodeGenForCausalLM, GPTJForCausalLM
    except ImportError as error:
        raise ConversionError(
            "converting checkpoints needs PyTorch and transformers: "
            "pip install torch==2.13.0 transformers (or -e '.[convert]')"
        ) from error
    codegen = CodeGenForCausalLM.from_pretrained(source)
    if codegen.config.n_head % CODEGEN_SLICES:
        raise ConversionError(f"CodeGen's heads must split into {CODEGEN_SLICES} slices")
    gptj = GPTJForCausalLM(gptj_config_for(codegen.config))
    state = gptj_state_dict(codegen.state_dict(), codegen.config.n_embd)
    missing, unexpected = gptj.load_state_dict(state, strict=False)
    real_missing = [name for name in missing if not name.endswith(("attn.bias", "masked_bias"))]
    if real_missing or unexpected:
        raise ConversionError(f"weights do not line up: missing {real_missing}, extra {unexpected}")
    gptj.save_pretrained(target)
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, target / name)
    log.info("wrote GPT-J checkpoint %s from CodeGen %s", target, source)
    return target
