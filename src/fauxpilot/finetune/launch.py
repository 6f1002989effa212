"""Several GPUs or nodes: the same `finetune train` command, run once per GPU by a launcher.

LoRA on one node: PyTorch's own `torchrun` (data parallel; each GPU holds the small adapter's
optimizer state, nothing to shard). Full fine-tuning, or several nodes: DeepSpeed's launcher
with ZeRO-2 and the optimizer state offloaded to CPU memory (deepspeed_zero2.json, shipped
with FauxPilot), on every node of a hostfile. Each process runs
`python -m fauxpilot finetune train ... --launched`; the Trainer reads the launcher's
environment (ranks, world size) by itself.
"""

from __future__ import annotations

import importlib.resources
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from fauxpilot.finetune.train import TrainingError

ZERO2_CONFIG = "deepspeed_zero2.json"


def zero2_config() -> Path:
    return Path(str(importlib.resources.files("fauxpilot.finetune").joinpath(ZERO2_CONFIG)))


def launch_command(
    train_arguments: Sequence[str],
    gpus: int,
    nodes: int = 1,
    hostfile: Path | None = None,
    *,
    full: bool = False,
) -> list[str]:
    """The command that runs this training on `gpus` GPUs per node."""
    if not full and nodes == 1:
        return torchrun_command(train_arguments, gpus)
    return deepspeed_command(train_arguments, gpus, nodes, hostfile)


def torchrun_command(train_arguments: Sequence[str], processes: int) -> list[str]:
    """`torchrun` (as `python -m torch.distributed.run`, so it is this venv's) on one node."""
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        "--nproc-per-node", str(processes),
        "-m", "fauxpilot", "finetune", "train", *train_arguments, "--launched",
    ]  # fmt: skip


def deepspeed_command(
    train_arguments: Sequence[str], gpus: int, nodes: int = 1, hostfile: Path | None = None
) -> list[str]:
    """The deepspeed command that runs this training with ZeRO-2 on `gpus` GPUs per node."""
    launcher = shutil.which("deepspeed")
    if launcher is None:
        raise TrainingError(
            "training on several GPUs runs through DeepSpeed: pip install deepspeed "
            "(needs CUDA and a compiler), then run the same command again"
        )
    command = [launcher, "--num_gpus", str(gpus)]
    if nodes > 1:
        if hostfile is None:
            raise TrainingError("--nodes above 1 needs --hostfile (DeepSpeed's host list)")
        command += ["--num_nodes", str(nodes), "--hostfile", str(hostfile)]
    return [
        *command,
        "--no_local_rank",
        "--module",
        "fauxpilot",
        "finetune",
        "train",
        *train_arguments,
        "--deepspeed-config",
        str(zero2_config()),
        "--launched",
    ]
