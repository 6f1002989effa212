"""The tokenizer rebuilt from a GGUF vocabulary splits text exactly as llama.cpp does.

Checked on all 164 HumanEval prompts and some awkward strings, for both pre-tokenizers in
use: SmolLM's (digits one by one) and Qwen2's (its own split pattern).
"""

from __future__ import annotations

import pytest

from fauxpilot.config.settings import Settings
from fauxpilot.engine.llamacpp_model import LlamaModel
from fauxpilot.evaluation.tasks import load_humaneval
from fauxpilot.models.catalog import find_entry
from fauxpilot.models.gguf_to_hf import build_tokenizer, read_metadata
from fauxpilot.models.store import ModelStore
from tests.engines import cpu_options

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
