"""`fauxpilot serve` and `fauxpilot complete`: flags into Settings, then fauxpilot.server."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from fauxpilot import server
from fauxpilot.cli.args import add_settings_flags, settings_from
from fauxpilot.completion.types import CompletionJob
from fauxpilot.config.settings import OneShotSettings
from fauxpilot.engine.base import SamplingParams


def cmd_serve(args: argparse.Namespace) -> int:
    return server.serve(settings_from(args))


def cmd_complete(args: argparse.Namespace) -> int:
    job = CompletionJob(
        request_id="cli",
        prompts=[args.text],
        suffix=args.suffix,
        max_tokens=args.max_tokens,
        sampling=SamplingParams(temperature=args.temperature),
        stop=tuple(args.stop or ()),
    )
    sys.stdout.write(server.complete_once(settings_from(args), job) + "\n")
    return 0


def register(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the completion server")
    add_settings_flags(serve)
    serve.set_defaults(handler=cmd_serve)

    complete = commands.add_parser("complete", help="complete TEXT once, without a server")
    complete.add_argument("text")
    complete.add_argument("--suffix", default=None, help="code after the cursor (FIM)")
    complete.add_argument("--max-tokens", type=int, default=64)
    complete.add_argument("--temperature", type=float, default=0.0)
    complete.add_argument("--stop", action="append", help="stop sequence (repeatable)")
    add_settings_flags(complete, OneShotSettings)
    complete.set_defaults(handler=cmd_complete)
