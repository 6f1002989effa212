"""`finetune train`: LoRA adapters (or full fine-tuning) with PEFT on transformers' Trainer.

The Trainer brings the progress bar with the loss, checkpoints and resuming; on several GPUs
the same code runs under DeepSpeed ZeRO-2 (see launch.py). What is ours: the examples
(plain and fill-in-the-middle in the base model's format) and the run manifest, which
`finetune evaluate` and `finetune export` read to find the base model again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fauxpilot.finetune.base import BaseModel
from fauxpilot.finetune.dataset import DatasetError
from fauxpilot.finetune.examples import FimIds, read_corpus, training_windows
from fauxpilot.models.catalog import detect_family

log = logging.getLogger(__name__)

MANIFEST = "fauxpilot-finetune.json"
MODEL_DIR = "model"  # the adapter (LoRA) or the whole model (full fine-tuning)
CHECKPOINTS_DIR = "checkpoints"
# Linear layers LoRA adapts, by architecture family (attention and MLP projections).
LORA_TARGETS = (
    "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",  # Llama, Qwen2
    "qkv_proj", "out_proj", "fc_in", "fc_out",  # CodeGen, GPT-J
    "c_attn", "c_proj", "c_fc",  # GPT-2, StarCoder
)  # fmt: skip


class TrainingError(RuntimeError):
    """Training cannot start as asked; the message says why."""


@dataclass(frozen=True)
class TrainConfig:
    seq_len: int = 512
    batch_size: int = 4
    grad_accum: int = 1
    learning_rate: float = 2e-4
    epochs: float = 1.0
    max_steps: int = -1  # above 0: stop after this many optimizer steps
    full: bool = False  # full fine-tuning instead of LoRA
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    fim_rate: float = 0.5
    save_steps: int = 50
    seed: int = 0
    deepspeed: str | None = None  # a DeepSpeed config file (multi-GPU launches)
    precision: str = "auto"  # auto: bf16 on a GPU that has it, else fp16 on a GPU, fp32 on CPU
    gradient_checkpointing: bool = False  # recompute activations: less memory, ~30% slower


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def training_precision(requested: str, cuda: bool, bf16_supported: bool) -> str:
    """The precision the Trainer computes in: `requested`, or auto's choice for the device."""
    if requested not in PRECISIONS:
        raise TrainingError(f"unknown precision {requested!r}; one of {', '.join(PRECISIONS)}")
    if requested == "auto":
        if not cuda:
            return "fp32"
        return "bf16" if bf16_supported else "fp16"
    if requested == "fp16" and not cuda:
        raise TrainingError("fp16 training needs a CUDA GPU; on a CPU use fp32 or bf16")
    if requested == "bf16" and cuda and not bf16_supported:
        raise TrainingError("this GPU has no bf16 (it needs compute capability 8.0); use fp16")
    return requested


@dataclass(frozen=True)
class RunManifest:
    base_spec: str
    base_checkpoint: str
    base_gguf: str | None
    data: str
    full: bool
    config: dict[str, Any]
    train_windows: int

    def write(self, out: Path) -> None:
        (out / MANIFEST).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @staticmethod
    def read(out: Path) -> RunManifest:
        try:
            return RunManifest(**json.loads((out / MANIFEST).read_text()))
        except (OSError, ValueError, TypeError) as error:
            raise TrainingError(f"{out} is not a finetune run ({MANIFEST}: {error})") from error


def fim_ids(tokenizer: Any) -> FimIds | None:
    """The base model's fill-in-the-middle tokens, if its vocabulary has a known set."""
    added = tokenizer.get_added_vocab()
    family = detect_family(added.get)
    if not family.supports_fim:
        return None
    assert family.fim_prefix and family.fim_suffix and family.fim_middle
    return FimIds(added[family.fim_prefix], added[family.fim_suffix], added[family.fim_middle])


def end_id(tokenizer: Any) -> int:
    if tokenizer.eos_token_id is None:
        raise TrainingError("the base model's tokenizer has no end-of-text token")
    return int(tokenizer.eos_token_id)


def tokenizer_function(tokenizer: Any) -> Any:
    def tokenize(text: str) -> list[int]:
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])

    return tokenize


def train(base: BaseModel, data: Path, out: Path, config: TrainConfig, *, resume: bool) -> Path:
    """Train; returns the folder with the adapter (or model) that evaluate and export read."""
    from transformers import AutoTokenizer

    checkpoints = out / CHECKPOINTS_DIR
    if checkpoints.is_dir() and any(checkpoints.iterdir()) and not resume:
        raise TrainingError(f"{out} already has checkpoints; add --resume to continue that run")
    tokenizer = AutoTokenizer.from_pretrained(str(base.checkpoint))
    windows = _windows(tokenizer, data, config)
    precision = _device_precision(config.precision)
    model = _load_model(base, config, precision)
    trainer = _trainer(model, windows, checkpoints, config, precision)
    if trainer.is_world_process_zero():
        out.mkdir(parents=True, exist_ok=True)
        RunManifest(
            base_spec=base.spec,
            base_checkpoint=str(base.checkpoint),
            base_gguf=str(base.gguf) if base.gguf else None,
            data=str(data.resolve()),
            full=config.full,
            config=asdict(config),
            train_windows=len(windows),
        ).write(out)
    latest = _latest_checkpoint(checkpoints) if resume else None
    if resume and latest is None:
        log.warning("no checkpoint in %s to resume from; starting from the beginning", out)
    trainer.train(resume_from_checkpoint=str(latest) if latest else None)
    target = out / MODEL_DIR
    trainer.save_model(str(target))  # on several processes, only the first one writes
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(target))
        log.info("saved the %s in %s", "model" if config.full else "LoRA adapter", target)
    return target


_TORCH_DTYPES = {"bf16": "bfloat16", "fp16": "float16"}


def _load_model(base: BaseModel, config: TrainConfig, precision: str) -> Any:
    from transformers import AutoModelForCausalLM

    log.info("training in %s", precision)
    # Full fine-tuning keeps float32 weights (mixed precision needs a float32 master copy);
    # LoRA's frozen base needs none, so on a GPU it is held in the training precision.
    dtype = "float32" if config.full or precision == "fp32" else _TORCH_DTYPES[precision]
    model = AutoModelForCausalLM.from_pretrained(str(base.checkpoint), dtype=dtype)
    return model if config.full else _with_lora(model, config)


def _device_precision(requested: str) -> str:
    import torch

    cuda = torch.cuda.is_available()
    return training_precision(requested, cuda, cuda and torch.cuda.is_bf16_supported())


def _windows(tokenizer: Any, data: Path, config: TrainConfig) -> list[list[int]]:
    try:
        corpus = read_corpus(data)
    except DatasetError as error:
        raise TrainingError(str(error)) from error
    fim = fim_ids(tokenizer)
    if fim is None:
        log.warning("the base model has no fill-in-the-middle tokens: plain examples only")
    windows = training_windows(
        corpus.train,
        tokenizer_function(tokenizer),
        seq_len=config.seq_len,
        end=end_id(tokenizer),
        fim=fim,
        fim_rate=config.fim_rate,
        seed=config.seed,
    )
    if not windows:
        raise TrainingError(
            f"{data} holds fewer than {config.seq_len} tokens of training text; "
            "lower --seq-len or add code"
        )
    log.info("%d training windows of %d tokens", len(windows), config.seq_len)
    return windows


def _with_lora(model: Any, config: TrainConfig) -> Any:
    from peft import LoraConfig, get_peft_model

    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [name for name in LORA_TARGETS if name in names]
    if not targets:
        raise TrainingError("found no attention or MLP projections to attach LoRA to")
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora)
    trainable, total = model.get_nb_trainable_parameters()
    log.info("LoRA on %s: %d of %d parameters trainable", ", ".join(targets), trainable, total)
    return model


def _trainer(
    model: Any, windows: list[list[int]], checkpoints: Path, config: TrainConfig, precision: str
) -> Any:
    import torch
    from transformers import Trainer, TrainingArguments, default_data_collator

    from fauxpilot.progress import on_terminal

    rows = [{"input_ids": w, "labels": w, "attention_mask": [1] * len(w)} for w in windows]
    arguments = TrainingArguments(
        output_dir=str(checkpoints),
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.learning_rate,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        lr_scheduler_type="cosine",
        warmup_steps=max(1, _total_steps(len(windows), config) // 20),
        logging_steps=1,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,
        report_to=[],
        seed=config.seed,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        remove_unused_columns=False,
        deepspeed=config.deepspeed,  # its "auto" precision follows bf16/fp16 below
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        gradient_checkpointing=config.gradient_checkpointing,
        # Non-reentrant checkpointing needs no inputs that require grad (LoRA's have none).
        gradient_checkpointing_kwargs={"use_reentrant": False},
        ddp_find_unused_parameters=False,  # under torchrun: every parameter gets a gradient
        disable_tqdm=not on_terminal(),  # the bar on a terminal, log lines otherwise
    )
    return Trainer(
        model=model,
        args=arguments,
        train_dataset=_ListDataset(rows),
        data_collator=default_data_collator,
    )


def _total_steps(windows: int, config: TrainConfig) -> int:
    if config.max_steps > 0:
        return config.max_steps
    per_epoch = max(1, windows // (config.batch_size * config.grad_accum))
    return max(1, int(per_epoch * config.epochs))


def _latest_checkpoint(checkpoints: Path) -> Path | None:
    found = [
        path
        for path in checkpoints.glob("checkpoint-*")
        if path.is_dir() and path.name.split("-")[-1].isdigit()
    ]
    return max(found, key=lambda path: int(path.name.split("-")[-1]), default=None)


class _ListDataset:
    """The rows as the Trainer's dataset (length and indexing are all it needs)."""

    def __init__(self, rows: list[dict[str, list[int]]]) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        return self._rows[index]
