"""`fauxpilot bench`: editor-like load, alone or side by side with llama-cpp-python's server."""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fauxpilot.bench.client import BenchClient
from fauxpilot.bench.inprocess import inprocess_decode_rate
from fauxpilot.bench.plot import plot_latencies
from fauxpilot.bench.report import markdown, merge
from fauxpilot.bench.scenarios import SCENARIOS, BenchConfig, ScenarioResult
from fauxpilot.bench.servers import (
    RunningServer,
    llama_cpp_server_missing,
    start_fauxpilot,
    start_llama_cpp_server,
)
from fauxpilot.plotting import PlotUnavailableError, load_pyplot

log = logging.getLogger(__name__)


def register(commands: Any) -> None:
    bench = commands.add_parser("bench", help="measure latency and throughput like editors do")
    bench.add_argument("--url", help="an already running server; otherwise one is started")
    bench.add_argument("--model", default="qwen2.5-coder-0.5b", help="model to serve")
    bench.add_argument("--threads", type=int, default=2)
    bench.add_argument(
        "--compare", action="store_true", help="also run llama-cpp-python's server, same model"
    )
    bench.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    bench.add_argument("--keystrokes", type=int, default=BenchConfig.keystrokes)
    bench.add_argument(
        "--editors", type=int, default=BenchConfig.editors, help="at most one per source file (5)"
    )
    bench.add_argument(
        "--editor-keystrokes",
        type=int,
        default=BenchConfig.editor_keystrokes,
        help="keystrokes per editor in the multi-editor scenarios",
    )
    bench.add_argument("--max-tokens", type=int, default=BenchConfig.max_tokens)
    bench.add_argument(
        "--one-line",
        action="store_true",
        help='keystrokes ask for one line (stop ["\\n"]), as Copilot does for inline text',
    )
    bench.add_argument("--json", type=Path, help="write all figures to this file")
    bench.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.png",
        help="draw each scenario's latencies per server (needs the 'plot' extra)",
    )
    bench.add_argument(
        "--from-json",
        type=Path,
        metavar="FILE",
        help="run nothing: report (and --plot) the figures an earlier --json run wrote",
    )
    bench.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="extra flag for the started fauxpilot server, e.g. --server-arg=--draft-tokens=4",
    )
    bench.set_defaults(handler=cmd_bench)


def run_scenarios(url: str, names: list[str], config: BenchConfig) -> dict[str, ScenarioResult]:
    client = BenchClient(url, model="codegen", stop=config.stop)
    try:
        return {name: SCENARIOS[name](client, config) for name in names}
    finally:
        client.close()


def _measure(server: RunningServer, names: list[str], config: BenchConfig) -> dict[str, Any]:
    try:
        results = run_scenarios(server.url, names, config)
        rss, peak = server.rss_mib()
    finally:
        server.stop()
    return {"results": results, "rss_mib": rss, "peak_rss_mib": peak}


def cmd_bench(args: argparse.Namespace) -> int:
    names = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    problem = _argument_problem(args, names)
    if problem:
        log.error("%s", problem)
        return 2
    if args.from_json:
        columns = _read_columns(args.from_json)
    elif args.url:
        columns = {args.url: {"results": run_scenarios(args.url, names, _config(args))}}
    else:
        columns = _run_started_servers(args, names, _config(args))
    sys.stdout.write(_report(columns))
    if args.json and not args.from_json:
        args.json.write_text(json.dumps(_jsonable(columns), indent=2))
    if args.plot:
        plot_latencies({name: column["results"] for name, column in columns.items()}, args.plot)
        log.info("latency plot written to %s", args.plot)
    return 0


def _argument_problem(args: argparse.Namespace, names: list[str]) -> str | None:
    """Why the run cannot start (checked before minutes of measuring), or None."""
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        return f"unknown scenarios {unknown}; choose from {', '.join(SCENARIOS)}"
    if args.from_json and not args.from_json.is_file():
        return f"--from-json: no such file {args.from_json}"
    if args.plot:
        try:
            load_pyplot()
        except PlotUnavailableError as error:
            return f"--plot: {error}"
    starts_peer = args.compare and not (args.url or args.from_json)
    missing = llama_cpp_server_missing() if starts_peer else None
    return f"--compare needs llama-cpp-python's server: {missing}" if missing else None


def _config(args: argparse.Namespace) -> BenchConfig:
    return BenchConfig(
        keystrokes=args.keystrokes,
        editors=args.editors,
        editor_keystrokes=args.editor_keystrokes,
        max_tokens=args.max_tokens,
        stop=("\n",) if args.one_line else (),
    )


def _report(columns: dict[str, dict[str, Any]]) -> str:
    rows = merge([column["results"] for column in columns.values()])
    extra = [*_memory_lines(columns), ("machine", _machine()), ("command", " ".join(sys.argv))]
    if "inprocess_decode" in columns.get("fauxpilot", {}):
        extra.insert(0, ("llama-cpp-python in-process decode tokens/s (best)",
                         f"{columns['fauxpilot']['inprocess_decode']:.1f}"))  # fmt: skip
    return markdown(list(columns), rows, extra)


def _run_started_servers(
    args: argparse.Namespace, names: list[str], config: BenchConfig
) -> dict[str, dict[str, Any]]:
    from fauxpilot.config.settings import Settings
    from fauxpilot.models.resolve import resolve_model
    from fauxpilot.models.store import ModelStore

    model = resolve_model(args.model, ModelStore(Settings().home))
    logs = Path(tempfile.mkdtemp(prefix="fauxpilot-bench-"))
    log.info("server logs in %s", logs)
    columns: dict[str, dict[str, Any]] = {}
    ours = start_fauxpilot(args.model, args.threads, logs / "fauxpilot.log", tuple(args.server_arg))
    columns["fauxpilot"] = _measure(ours, names, config)
    if args.compare:
        theirs = start_llama_cpp_server(model.path, args.threads, 4096, logs / "llama.log")
        columns["llama-cpp-python server"] = _measure(theirs, names, config)
        if "decode" in names:
            rate = inprocess_decode_rate(model.path, args.threads, config.decode_tokens, 3)
            columns["fauxpilot"]["inprocess_decode"] = rate
    return columns


def _memory_lines(columns: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (
            f"{name} resident memory after the run",
            f"{column['rss_mib']:.0f} MiB (peak {column['peak_rss_mib']:.0f} MiB)",
        )
        for name, column in columns.items()
        if "rss_mib" in column
    ]


def _machine() -> str:
    import os

    cores = len(os.sched_getaffinity(0))
    return f"{platform.machine()}, {cores} cores, {platform.python_version()}"


def _read_columns(path: Path) -> dict[str, dict[str, Any]]:
    """The columns a `--json` run wrote, with their results as ScenarioResult again."""
    columns: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    for column in columns.values():
        column["results"] = {
            key: ScenarioResult(**fields) for key, fields in column["results"].items()
        }
    return columns


def _jsonable(columns: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        name: {
            key: {k: asdict(v) for k, v in value.items()} if key == "results" else value
            for key, value in column.items()
        }
        for name, column in columns.items()
    }
