"""The tokenizer rebuilt from a GGUF vocabulary splits text exactly as llama.cpp does.

Checked on all 164 HumanEval prompts and some awkward strings, for both pre-tokenizers in
use: SmolLM's (digits one by one) and Qwen2's (its own split pattern).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from fauxpilot.config.settings import Settings
from fauxpilot.engine.llamacpp_model import LlamaModel
from fauxpilot.evaluation.tasks import load_humaneval
from fauxpilot.models.catalog import find_entry
from fauxpilot.models.gguf_to_hf import build_tokenizer, convert_gguf_to_hf, read_metadata
from fauxpilot.models.store import ModelStore
from tests.engines import check_same_greedy_tokens, cpu_options

pytest.importorskip("tokenizers")
pytest.importorskip("gguf")

pytestmark = [pytest.mark.integration]

AWKWARD = [
    "x = 12345 + 0.5e-3  # héllo wörld 🎉\n\tif (y!=z) { return; }",
    "   multiple   spaces\n\n\n\r\nnew<|im_start|>user\nhi<|im_end|>",
    "I'm sure they'll've done it; DON'T shout!!!",
    "",
]


@pytest.mark.parametrize(
    "model",
    ["smollm2-135m", pytest.param("qwen2.5-coder-0.5b", marks=pytest.mark.default_model)],
)
def test_rebuilt_tokenizer_matches_llama_cpp(model: str) -> None:
    path = ModelStore(Settings().home).verify(find_entry(model))
    tokenizer = build_tokenizer(read_metadata(path).fields)
    llama = LlamaModel(path, cpu_options(threads=1, context_per_slot=256, slots=1, batch_size=32))
    try:
        texts = [task.prompt for task in load_humaneval()] + AWKWARD
        mismatches = [
            text
            for text in texts
            if tokenizer.encode(text, add_special_tokens=False).ids
            != llama.vocab.tokenize(text, special=True)
        ]
    finally:
        llama.close()
    assert mismatches == []


@pytest.mark.default_model
def test_transformers_gguf_loader_converts_where_its_tokenizer_is_llama_cpp_s(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Qwen2.5-Coder goes through transformers' own loader and computes what llama.cpp
    computes; SmolLM2, whose transformers tokenizer splits spaces otherwise, through ours."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    store = ModelStore(Settings().home)
    caplog.set_level(logging.INFO, logger="fauxpilot.models")
    qwen = store.verify(find_entry("qwen2.5-coder-0.5b"))
    folder = convert_gguf_to_hf(qwen, tmp_path / "qwen")
    assert "with transformers' GGUF loader" in caplog.text
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    prompts = [task.prompt for task in load_humaneval()[:3]]
    model.eval()  # type: ignore[no-untyped-call]
    check_same_greedy_tokens(model, tokenizer, qwen, prompts, count=8)
    caplog.clear()
    smollm = store.verify(find_entry("smollm2-135m"))
    convert_gguf_to_hf(smollm, tmp_path / "smollm")
    assert "splits" in caplog.text and "FauxPilot's own GGUF reader" in caplog.text
