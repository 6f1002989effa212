"""The `fauxpilot` command: serve, complete, models."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from fauxpilot.cli import bundle, doctor, models, serve, setup
from fauxpilot.errors import UserError
from fauxpilot.logs import configure_logging
from fauxpilot.native.startup_check import EngineCrashError

log = logging.getLogger("fauxpilot")

# What `main` reports in one line with status 2. EngineCrashError cannot derive from UserError:
# fauxpilot.native stays stdlib-only (setup.sh runs it before the dependencies are installed).
USER_ERRORS = (UserError, ValidationError, EngineCrashError)


def build_parser() -> argparse.ArgumentParser:
    # The sub-packages' commands import fauxpilot.cli.args, which imports this package first:
    # imported here, they find it complete.
    from fauxpilot.bench import cli as bench_cli
    from fauxpilot.evaluation import cli as eval_cli
    from fauxpilot.finetune import cli as finetune_cli

    parser = argparse.ArgumentParser(prog="fauxpilot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve.register(commands)
    models.register(commands)
    setup.register(commands)
    doctor.register(commands)
    bundle.register(commands)
    bench_cli.register(commands)
    eval_cli.register(commands)
    finetune_cli.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level: Any = getattr(args, "log_level", None) or "info"
    log_format: Any = getattr(args, "log_format", None) or "text"
    try:
        configure_logging(str(level), str(log_format))
        return int(args.handler(args))
    except USER_ERRORS as error:
        log.error("%s", error)
        return 2
