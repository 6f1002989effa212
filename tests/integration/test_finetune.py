"""The whole fine-tuning chain on real code nobody here wrote (the standard library's `json`):
dataset -> train (LoRA on the tiny model, dequantized from its GGUF) -> resume -> evaluate ->
export to GGUF -> served by name, answering through the OpenAI client.

The exported GGUF must compute what the merged PyTorch model computes: their greedy
completions agree wherever PyTorch's top two tokens are more than NEAR_TIE apart (float32
export; llama.cpp and PyTorch only add in a different order).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import openai
import pytest

pytest.importorskip("peft")
pytest.importorskip("gguf")

from fauxpilot.bench.servers import start_fauxpilot
from fauxpilot.finetune.export import merged_model
from fauxpilot.finetune.train import RunManifest
from fauxpilot.models.quantize import QUANT_TYPES, gguf_file_type
from tests.engines import check_same_greedy_tokens
from tests.terminal import bar_lines, run_on_terminal

pytestmark = pytest.mark.integration

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
    # By default the export has the base's own quantization (Q4_1 here), so its size.
    base_gguf = RunManifest.read(run).base_gguf
    assert base_gguf is not None
    base = Path(base_gguf)
    # On a terminal, llama.cpp's quantizer shows its tensors on a bar.
    status, shown = run_on_terminal([sys.executable, "-m", "fauxpilot", "finetune", "export",
                                     str(run), "--out", str(run / "base-type.gguf")])  # fmt: skip
    assert status == 0, shown[-3000:]
    bars = bar_lines(shown, "tensor/s]")
    assert bars and "quantizing to q4_1: 100%" in bars[-1], shown[-3000:]
    assert gguf_file_type(run / "base-type.gguf") == gguf_file_type(base) == QUANT_TYPES["q4_1"]
    size = (run / "base-type.gguf").stat().st_size
    assert 0.9 < size / base.stat().st_size < 1.1 < (run / "export.gguf").stat().st_size / size

    server = start_fauxpilot("tuned-tiny", 2, tmp_path / "server.log", ("--home", str(home)))
    try:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        answer = client.completions.create(
            model="tuned-tiny", prompt=PROMPTS[0], max_tokens=8, temperature=0
        )
        assert answer.choices[0].text and answer.usage and answer.usage.completion_tokens > 0
    finally:
        server.stop()


def test_lora_under_torchrun_on_two_processes_in_bf16_with_gradient_checkpointing(
    tmp_path: Path,
) -> None:
    """`--gpus 2` with LoRA: torchrun starts two processes (on CPUs here, gloo), the base
    prepared once before."""
    home, run, data = tmp_path / "home", tmp_path / "run", tmp_path / "json.jsonl"
    made = _fauxpilot("finetune", "dataset", str(Path(json.__file__).parent), "-o", str(data))
    assert made.returncode == 0, made.stderr
    arguments = ["--base", "smollm2-135m", "--data", str(data), "--out", str(run),
                 "--seq-len", "64", "--batch-size", "1", "--max-steps", "2", "--save-steps", "2",
                 "--threads", "1", "--precision", "bf16", "--gradient-checkpointing",
                 "--home", str(home), "--gpus", "2"]  # fmt: skip
    done = _fauxpilot("finetune", "train", *arguments)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("training in bf16") == 2, "one log line per process"
    assert (run / "model" / "adapter_config.json").is_file()
    state = json.loads((run / "checkpoints" / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    assert all(math.isfinite(entry["loss"]) for entry in state["log_history"] if "loss" in entry)


def _check_same_greedy_tokens(run: Path, gguf: Path) -> None:
    model, tokenizer = merged_model(run)
    check_same_greedy_tokens(model, tokenizer, gguf, PROMPTS)
