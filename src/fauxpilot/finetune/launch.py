"""Several GPUs or nodes: the same `finetune train` command, run by DeepSpeed's launcher.

DeepSpeed starts one process per GPU (on every node of a hostfile) and each runs
`python -m fauxpilot finetune train ... --launched` with ZeRO-2 and the optimizer state
offloaded to CPU memory (deepspeed_zero2.json, shipped with FauxPilot). The Trainer reads the
launcher's environment (ranks, world size) by itself.
"""

from __future__ import annotations

import importlib.resources
import shutil
from collections.abc import Sequence
from pathlib import Path

from fauxpilot.finetune.train import TrainingError

ZERO2_CONFIG = "deepspeed_zero2.json"


def zero2_config() -> Path:
    return Path(str(importlib.resources.files("fauxpilot.finetune").joinpath(ZERO2_CONFIG)))


def launch_command(
    train_arguments: Sequence[str], gpus: int, nodes: int = 1, hostfile: Path | None = None
) -> list[str]:
    """The deepspeed command that runs this training on `gpus` GPUs per node."""
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
