"""Fine-tuning pieces that need no model: examples, run manifests, the DeepSpeed launch."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from fauxpilot.finetune.dataset import DatasetError
from fauxpilot.finetune.evaluate import held_out_lines
from fauxpilot.finetune.examples import (
    FimIds,
    fim_example,
    pieces_of,
    read_corpus,
    training_windows,
)
from fauxpilot.finetune.launch import launch_command, zero2_config
from fauxpilot.finetune.train import TrainingError, training_precision
from fauxpilot.models.convert import ConversionError
from fauxpilot.models.hf_to_gguf import gguf_tensor_namer

FIM = FimIds(prefix=-1, suffix=-2, middle=-3)
END = -9


def characters(text: str) -> list[int]:
    """A stand-in tokenizer: one token per character, its code point."""
    return [ord(c) for c in text]


def decode(tokens: list[int]) -> str:
    return "".join(chr(t) for t in tokens if t >= 0)


def test_files_are_cut_at_line_ends_into_pieces_that_fit() -> None:
    text = "".join(f"line {i}\n" for i in range(10))  # 7 characters a line
    pieces = list(pieces_of(text, characters, 15))
    assert "".join(pieces) == text
    assert all(len(piece) <= 15 and piece.endswith("\n") for piece in pieces)
    assert list(pieces_of("x" * 40 + "\n", characters, 15)) == ["x" * 40 + "\n"]


def test_fim_examples_hold_the_whole_piece_in_prefix_suffix_middle_order() -> None:
    piece = "def f(a):\n    b = a + 1\n    return b\n"
    rng = random.Random(3)
    for _ in range(50):
        tokens = fim_example(piece, characters, FIM, END, rng)
        assert tokens[0] == FIM.prefix and tokens[-1] == END
        s, m = tokens.index(FIM.suffix), tokens.index(FIM.middle)
        prefix, suffix, middle = tokens[1:s], tokens[s + 1 : m], tokens[m + 1 : -1]
        assert decode(prefix) + decode(middle) + decode(suffix) == piece


def test_windows_are_full_length_and_mix_plain_and_fim_examples() -> None:
    texts = [f"def f{i}(x):\n    return x * {i}\n" * 3 for i in range(40)]
    windows = training_windows(
        texts, characters, seq_len=64, end=END, fim=FIM, fim_rate=0.5, seed=0
    )
    assert windows and all(len(window) == 64 for window in windows)
    stream = [token for window in windows for token in window]
    assert FIM.middle in stream and stream.count(END) > stream.count(FIM.middle)
    again = training_windows(texts, characters, seq_len=64, end=END, fim=FIM, fim_rate=0.5, seed=0)
    assert again == windows  # the same seed, the same examples
    plain = training_windows(texts, characters, seq_len=64, end=END, fim=None, fim_rate=0.5, seed=0)
    assert FIM.middle not in [token for window in plain for token in window]


def test_the_corpus_is_read_by_split_and_bad_lines_are_named(tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    rows = [
        {"text": "a = 1\n", "path": "a.py", "split": "train"},
        {"text": "b = 2\n", "path": "b.py", "split": "heldout"},
    ]
    data.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    corpus = read_corpus(data)
    assert corpus.train == ["a = 1\n"] and corpus.heldout == ["b = 2\n"]
    assert corpus.heldout_paths == ["b.py"]
    data.write_text('{"text": "x"}\nnot json\n')
    with pytest.raises(DatasetError, match="line 2"):
        read_corpus(data)


def test_held_out_lines_leave_indentation_in_the_prefix_and_the_newline_in_the_suffix(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data.jsonl"
    text = "def f(a):\n    total = a + 1\n    return total\n"
    data.write_text(json.dumps({"text": "x = 1\n", "split": "train"}) + "\n"
                    + json.dumps({"text": text, "split": "heldout"}) + "\n")  # fmt: skip
    holes = held_out_lines(read_corpus(data), 10)
    assert [hole.line for hole in holes] == ["total = a + 1", "return total"]
    second = holes[0]
    assert second.prefix == "def f(a):\n    " and second.suffix == "\n    return total\n"


def test_several_gpus_launch_through_deepspeed_with_the_shipped_zero2_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = json.loads(zero2_config().read_text())
    assert config["zero_optimization"]["stage"] == 2
    assert config["zero_optimization"]["offload_optimizer"]["device"] == "cpu"
    monkeypatch.setattr("shutil.which", lambda name: f"/opt/bin/{name}")
    command = launch_command(["--data", "d.jsonl", "--gpus", "4"], 4, 2, Path("hosts"))
    assert command[:7] == [
        "/opt/bin/deepspeed", "--num_gpus", "4", "--num_nodes", "2", "--hostfile", "hosts",
    ]  # fmt: skip
    assert command[-3:] == ["--deepspeed-config", str(zero2_config()), "--launched"]
    assert "--module" in command and "finetune" in command
    with pytest.raises(TrainingError, match="hostfile"):
        launch_command([], 4, 2, None)
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(TrainingError, match="pip install deepspeed"):
        launch_command([], 4, full=True)


def test_lora_on_one_node_launches_through_torchrun_full_through_deepspeed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("shutil.which", lambda name: f"/opt/bin/{name}")
    lora = launch_command(["--data", "d.jsonl"], 4)
    assert lora[1:7] == [
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "4",
        "-m",
    ]
    assert lora[-3:] == ["--data", "d.jsonl", "--launched"]
    assert launch_command([], 4, full=True)[0] == "/opt/bin/deepspeed"
    assert launch_command([], 4, 2, Path("hosts"))[0] == "/opt/bin/deepspeed"


@pytest.mark.parametrize(
    ("requested", "cuda", "bf16", "chosen"),
    [
        ("auto", False, False, "fp32"),
        ("auto", True, True, "bf16"),
        ("auto", True, False, "fp16"),
        ("bf16", False, False, "bf16"),
        ("fp32", True, True, "fp32"),
    ],
)
def test_training_precision_follows_the_device(
    requested: str, cuda: bool, bf16: bool, chosen: str
) -> None:
    assert training_precision(requested, cuda, bf16) == chosen


def test_precisions_a_device_cannot_run_are_refused() -> None:
    with pytest.raises(TrainingError, match="fp16 training needs a CUDA GPU"):
        training_precision("fp16", cuda=False, bf16_supported=False)
    with pytest.raises(TrainingError, match="no bf16"):
        training_precision("bf16", cuda=True, bf16_supported=False)


def test_hugging_face_names_map_back_to_gguf_names() -> None:
    qwen2, llama, starcoder2 = (
        gguf_tensor_namer("qwen2", 24),
        gguf_tensor_namer("llama", 30),
        gguf_tensor_namer("starcoder2", 4),
    )
    assert qwen2("model.embed_tokens.weight") == "token_embd.weight"
    assert qwen2("model.layers.11.self_attn.k_proj.bias") == "blk.11.attn_k.bias"
    assert llama("model.layers.0.mlp.gate_proj.weight") == "blk.0.ffn_gate.weight"
    # StarCoder2's MLP and norms are named otherwise, and its norms have biases.
    assert starcoder2("model.layers.3.mlp.c_fc.weight") == "blk.3.ffn_up.weight"
    assert starcoder2("model.norm.bias") == "output_norm.bias"
    with pytest.raises(ConversionError, match="no GGUF name"):
        starcoder2("model.layers.0.mlp.gate_proj.weight")
    with pytest.raises(ConversionError, match="no GGUF name"):
        llama("model.layers.0.self_attn.made_up.weight")
    with pytest.raises(ConversionError, match="does not know"):
        gguf_tensor_namer("no-such-arch", 1)
