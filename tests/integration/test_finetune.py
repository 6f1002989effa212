"""The whole fine-tuning chain on real code nobody here wrote (the standard library's `json`):
dataset -> train (LoRA on the tiny model, dequantized from its GGUF) -> resume -> evaluate ->
export to GGUF -> served by name, answering through the OpenAI client.

The exported GGUF must compute what the merged PyTorch model computes: their greedy
completions agree wherever PyTorch's top two tokens are more than NEAR_TIE apart (float32
export; llama.cpp and PyTorch only add in a different order).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import openai
import pytest

pytest.importorskip("peft")
pytest.importorskip("gguf")

from fauxpilot.bench.servers import start_fauxpilot
from fauxpilot.engine.llamacpp_model import LlamaModel
from fauxpilot.finetune.export import merged_model
from tests.engines import cpu_options

pytestmark = pytest.mark.integration

NEAR_TIE = 0.01
PROMPTS = ["import json\n\ndef load(path):\n", "class Decoder:\n    def __init__(self", "x = {"]


def _fauxpilot(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "fauxpilot", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)


def test_dataset_train_resume_evaluate_export_and_serve(tmp_path: Path) -> None:
    home, run, data = tmp_path / "home", tmp_path / "run", tmp_path / "json.jsonl"
    source = Path(json.__file__).parent
    made = _fauxpilot(
        "finetune", "dataset", str(source), "-o", str(data), "--heldout-fraction", "0.3"
    )
    assert made.returncode == 0, made.stderr
    train = ("finetune", "train", "--base", "smollm2-135m", "--data", str(data), "--out",
             str(run), "--seq-len", "128", "--batch-size", "2", "--save-steps", "2",
             "--threads", "2", "--home", str(home))  # fmt: skip
    first = _fauxpilot(*train, "--max-steps", "4")
    assert first.returncode == 0, first.stderr[-3000:]
    assert (run / "checkpoints" / "checkpoint-4").is_dir()
    assert (run / "model" / "adapter_config.json").is_file()
    refused = _fauxpilot(*train, "--max-steps", "6")
    assert refused.returncode == 2 and "--resume" in refused.stderr
    resumed = _fauxpilot(*train, "--max-steps", "6", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (run / "checkpoints" / "checkpoint-6").is_dir()

    scores = _fauxpilot("finetune", "evaluate", str(run), "--lines", "4", "--threads", "2")
    assert scores.returncode == 0, scores.stderr[-3000:]
    assert "held-out perplexity: base" in scores.stdout and "exact match" in scores.stdout

    exported = _fauxpilot("finetune", "export", str(run), "--type", "f32", "--name",
                          "tuned-tiny", "--home", str(home))  # fmt: skip
    assert exported.returncode == 0, exported.stderr[-3000:]
    _check_same_greedy_tokens(run, run / "export.gguf")

    server = start_fauxpilot("tuned-tiny", 2, tmp_path / "server.log", ("--home", str(home)))
    try:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        answer = client.completions.create(
            model="tuned-tiny", prompt=PROMPTS[0], max_tokens=8, temperature=0
        )
        assert answer.choices[0].text and answer.usage and answer.usage.completion_tokens > 0
    finally:
        server.stop()


def _check_same_greedy_tokens(run: Path, gguf: Path) -> None:
    import torch

    model, tokenizer = merged_model(run)
    llama = LlamaModel(gguf, cpu_options(threads=2, context_per_slot=256, slots=1, batch_size=64))
    try:
        for prompt in PROMPTS:
            ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            assert ids == llama.vocab.tokenize(prompt, special=False)
            with torch.no_grad():
                output = model.generate(
                    torch.tensor([ids]), max_new_tokens=12, do_sample=False,
                    output_scores=True, return_dict_in_generate=True,
                    pad_token_id=tokenizer.eos_token_id,
                )  # fmt: skip
            expected = output.sequences[0, len(ids) :].tolist()
            actual = _llama_greedy(llama, ids, len(expected))
            if actual != expected:
                step = next(
                    i for i, (a, b) in enumerate(zip(actual, expected, strict=True)) if a != b
                )
                top = torch.topk(output.scores[step][0].log_softmax(-1), 2).values
                assert float(top[0] - top[1]) < NEAR_TIE, (prompt, actual, expected)
    finally:
        llama.close()


def _llama_greedy(llama: LlamaModel, ids: list[int], count: int) -> list[int]:
    llama.forget(0, 0)
    llama.decode([(token, i, 0, i == len(ids) - 1) for i, token in enumerate(ids)])
    tokens: list[int] = []
    position = len(ids)
    for _ in range(count):
        token = int(np.argmax(np.asarray(llama.logits(0 if tokens else len(ids) - 1))))
        tokens.append(token)
        llama.decode([(token, position, 0, True)])
        position += 1
    return tokens
