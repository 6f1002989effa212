"""GGUF -> Hugging Face pieces that need no model file: names, config, the rotary reorder."""

from __future__ import annotations

import numpy as np
import pytest

from fauxpilot.models.convert import ConversionError
from fauxpilot.models.gguf_to_hf import (
    GgufModel,
    hf_config,
    hf_tensor_name,
    permute_rotary_rows,
    unpermute_rotary_rows,
)


def test_tensor_names_map_to_the_hugging_face_layout() -> None:
    assert hf_tensor_name("token_embd.weight") == "model.embed_tokens.weight"
    assert hf_tensor_name("output.weight") == "lm_head.weight"
    assert hf_tensor_name("blk.7.attn_q.bias") == "model.layers.7.self_attn.q_proj.bias"
    assert hf_tensor_name("blk.0.ffn_down.weight") == "model.layers.0.mlp.down_proj.weight"
    assert hf_tensor_name("blk.3.ffn_norm.weight") == (
        "model.layers.3.post_attention_layernorm.weight"
    )
    with pytest.raises(ConversionError, match="no Hugging Face name"):
        hf_tensor_name("blk.0.attn_qkv.weight")


def test_the_rotary_reorder_is_undone_exactly() -> None:
    heads, head_dim, width = 3, 8, 5
    weight = np.arange(heads * head_dim * width, dtype=np.float32).reshape(heads * head_dim, -1)
    permuted = permute_rotary_rows(weight, heads)
    assert not np.array_equal(permuted, weight)
    assert np.array_equal(unpermute_rotary_rows(permuted, heads), weight)
    # llama.cpp interleaves each head's two halves: rows 0, 4, 1, 5, ... of a head of 8.
    assert permuted[:8, 0].tolist() == [0, 20, 5, 25, 10, 30, 15, 35]


def test_config_comes_from_the_gguf_hyperparameters() -> None:
    fields = {
        "general.architecture": "llama",
        "llama.block_count": 30,
        "llama.embedding_length": 576,
        "llama.feed_forward_length": 1536,
        "llama.attention.head_count": 9,
        "llama.attention.head_count_kv": 3,
        "llama.context_length": 8192,
        "llama.rope.freq_base": 100000.0,
        "llama.attention.layer_norm_rms_epsilon": 1e-5,
        "tokenizer.ggml.tokens": ["a"] * 100,
        "tokenizer.ggml.bos_token_id": 1,
        "tokenizer.ggml.eos_token_id": 2,
    }
    config = hf_config(GgufModel("llama", fields, ("token_embd.weight", "blk.0.attn_q.weight")))
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert (config["num_hidden_layers"], config["num_key_value_heads"]) == (30, 3)
    assert config["head_dim"] == 64 and config["vocab_size"] == 100
    assert config["tie_word_embeddings"] is True  # no output.weight: the embedding is reused
    assert config["rope_theta"] == 100000.0 and config["attention_bias"] is False
