"""`fauxpilot finetune train | evaluate | export`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from fauxpilot.cli.args import add_home_flag
from fauxpilot.config.file import load_settings
from fauxpilot.finetune.dataset import DatasetError
from fauxpilot.finetune.train import PRECISIONS, TrainConfig, TrainingError
from fauxpilot.models.convert import ConversionError
from fauxpilot.models.quantize import QUANT_TYPES
from fauxpilot.models.store import ModelFileError, ModelStore

log = logging.getLogger(__name__)

DEFAULTS = TrainConfig()
FAILURES = (TrainingError, DatasetError, ConversionError, ModelFileError, ValueError)


def register_model_commands(commands: Any) -> None:
    _register_train(commands)
    evaluate = commands.add_parser(
        "evaluate", help="held-out perplexity and line infilling: base vs tuned"
    )
    evaluate.add_argument("run", type=Path, help="the --out folder of finetune train")
    evaluate.add_argument("--lines", type=int, default=50, help="held-out lines to fill (50)")
    evaluate.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch")
    evaluate.set_defaults(handler=cmd_evaluate)
    export = commands.add_parser("export", help="merge the adapters; write a servable model")
    export.add_argument("run", type=Path, help="the --out folder of finetune train")
    export.add_argument("--to", choices=["gguf", "hf"], default="gguf")
    export.add_argument("--out", type=Path, default=None, help="file or folder to write")
    export.add_argument(
        "--type",
        choices=["base", *QUANT_TYPES],
        default="base",
        help="GGUF tensor type (default: the base GGUF's own, e.g. q4_k_m)",
    )
    export.add_argument("--name", default=None, help="import it under this name to serve it")
    export.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch")
    add_home_flag(export)
    export.set_defaults(handler=cmd_export)


def _register_train(commands: Any) -> None:
    train = commands.add_parser(
        "train", help="LoRA (or full) fine-tuning on a finetune dataset, plain and FIM examples"
    )
    train.add_argument("--base", default="qwen2.5-coder-0.5b", help="catalog name, .gguf or HF dir")
    train.add_argument("--data", type=Path, required=True, help="from finetune dataset")
    train.add_argument("--out", type=Path, required=True, help="folder for checkpoints and result")
    for flag, value, kind, text in (
        ("--seq-len", DEFAULTS.seq_len, int, "tokens per example"),
        ("--batch-size", DEFAULTS.batch_size, int, "examples per step and device"),
        ("--grad-accum", DEFAULTS.grad_accum, int, "steps per optimizer update"),
        ("--lr", DEFAULTS.learning_rate, float, "peak learning rate (cosine schedule)"),
        ("--epochs", DEFAULTS.epochs, float, "passes over the data"),
        ("--max-steps", DEFAULTS.max_steps, int, "stop after this many updates (-1: epochs)"),
        ("--lora-r", DEFAULTS.lora_r, int, "LoRA rank"),
        ("--lora-alpha", DEFAULTS.lora_alpha, int, "LoRA scale"),
        ("--fim-rate", DEFAULTS.fim_rate, float, "share of fill-in-the-middle examples"),
        ("--save-steps", DEFAULTS.save_steps, int, "checkpoint every this many updates"),
        ("--seed", DEFAULTS.seed, int, "random seed"),
        ("--threads", None, int, "CPU threads for PyTorch"),
        ("--gpus", 0, int, "GPUs per node; above 1: torchrun (LoRA), DeepSpeed ZeRO-2 (--full)"),
        ("--nodes", 1, int, "nodes (with --hostfile)"),
    ):
        train.add_argument(flag, type=kind, default=value, help=f"{text} (default {value})")
    train.add_argument("--hostfile", type=Path, default=None, help="DeepSpeed hostfile")
    train.add_argument("--full", action="store_true", help="train every weight, not LoRA")
    train.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=DEFAULTS.precision,
        help="auto (default): bf16 on a GPU that has it, else fp16 on a GPU, fp32 on a CPU",
    )
    train.add_argument(
        "--gradient-checkpointing",
        action="store_true",
        help="recompute activations in the backward pass: less GPU memory, slower steps",
    )
    train.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    train.add_argument("--deepspeed-config", default=None, help=argparse.SUPPRESS)
    train.add_argument("--launched", action="store_true", help=argparse.SUPPRESS)
    add_home_flag(train)
    train.set_defaults(handler=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    if args.gpus > 1 and not args.launched:
        return _relaunch(args)
    from fauxpilot.finetune.base import prepare_base
    from fauxpilot.finetune.train import train

    _set_threads(args.threads)
    config = TrainConfig(
        seq_len=args.seq_len, batch_size=args.batch_size, grad_accum=args.grad_accum,
        learning_rate=args.lr, epochs=args.epochs, max_steps=args.max_steps, full=args.full,
        lora_r=args.lora_r, lora_alpha=args.lora_alpha, fim_rate=args.fim_rate,
        save_steps=args.save_steps, seed=args.seed, deepspeed=args.deepspeed_config,
        precision=args.precision, gradient_checkpointing=args.gradient_checkpointing,
    )  # fmt: skip
    try:
        base = prepare_base(args.base, _store(args))
        result = train(base, args.data, args.out, config, resume=args.resume)
    except FAILURES as error:
        log.error("%s", error)
        return 2
    sys.stdout.write(
        f"trained: {result}\nnext: fauxpilot finetune evaluate {args.out}; "
        f"fauxpilot finetune export {args.out} --name NAME\n"
    )
    return 0


def _relaunch(args: argparse.Namespace) -> int:
    from fauxpilot.finetune.base import prepare_base
    from fauxpilot.finetune.launch import launch_command

    arguments = [argument for argument in sys.argv[3:] if argument != "--launched"]
    try:
        # Once, here: every launched process would otherwise pull and convert it at once.
        prepare_base(args.base, _store(args))
        command = launch_command(arguments, args.gpus, args.nodes, args.hostfile, full=args.full)
    except FAILURES as error:
        log.error("%s", error)
        return 2
    log.info("launching: %s", " ".join(command))
    os.execvp(command[0], command)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from fauxpilot.finetune.evaluate import evaluate_run, format_scores

    _set_threads(args.threads)
    try:
        results = evaluate_run(args.run, lines=args.lines)
    except FAILURES as error:
        log.error("%s", error)
        return 2
    sys.stdout.write(format_scores(results))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from fauxpilot.finetune.export import export_run
    from fauxpilot.models.imported import import_model

    _set_threads(args.threads)
    out = args.out or args.run / ("export.gguf" if args.to == "gguf" else "export-hf")
    try:
        written = export_run(args.run, args.to, out, args.type)
        if args.name:
            store = _store(args)
            model = import_model(store, written, args.name)
            sys.stdout.write(f"imported as {model.name}: fauxpilot serve --model {model.name}\n")
    except FAILURES as error:
        log.error("%s", error)
        return 2
    sys.stdout.write(f"wrote {written}\n")
    return 0


def _store(args: argparse.Namespace) -> ModelStore:
    """The model home from --home, else the environment or config file (not the other flags:
    training's --batch-size and --threads are not the server's)."""
    given = {"home": args.home} if args.home else {}
    return ModelStore(load_settings(given, args.config).home)


def _set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)
