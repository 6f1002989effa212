"""`fauxpilot eval humaneval|infilling|lines`: completion quality measured through the API."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from fauxpilot.cli.args import positive_int
from fauxpilot.evaluation.client import (
    HUMANEVAL_STOPS,
    SINGLE_LINE_STOPS,
    CompletionClient,
    RequestFailed,
    RequestSettings,
)
from fauxpilot.evaluation.judges import Judge, LineMatchJudge, ProgramJudge
from fauxpilot.evaluation.line_tasks import load_line_tasks
from fauxpilot.evaluation.report import RunDescription, format_report
from fauxpilot.evaluation.runner import RunConfig, run_evaluation
from fauxpilot.evaluation.sandbox import Sandbox, SandboxUnavailableError
from fauxpilot.evaluation.sandbox_limits import Limits
from fauxpilot.evaluation.tasks import (
    CURSOR_POSITIONS,
    DataError,
    Task,
    as_editor_sends,
    load_humaneval,
    load_infilling,
    move_cursor,
)
from fauxpilot.models.catalog import FAMILIES

log = logging.getLogger(__name__)

DEFAULT_URL = "http://127.0.0.1:5000"
MAX_SAMPLES = 128
SAMPLING_TEMPERATURE = 0.8
INTERRUPTED = 130


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `eval humaneval` and `eval infilling` to a command's subparsers."""
    evaluation = subparsers.add_parser(
        "eval", help="measure completion quality through the API (HumanEval, infilling)"
    )
    commands = evaluation.add_subparsers(dest="eval_command", required=True)
    humaneval = commands.add_parser(
        "humaneval", help="HumanEval's 164 problems: complete each function body"
    )
    _add_common_flags(humaneval, max_tokens=300)
    _add_stop_flag(humaneval, ", ".join(repr(stop) for stop in HUMANEVAL_STOPS))
    humaneval.add_argument(
        "--empty-suffix",
        action="store_true",
        help='send suffix "" (a cursor at the end of the file) instead of no suffix',
    )
    humaneval.set_defaults(handler=cmd_humaneval)
    infilling = commands.add_parser(
        "infilling", help="HumanEval-Infilling: fill the hole between prompt and suffix"
    )
    infilling.add_argument(
        "--data", type=Path, required=True, help="a HumanEval-Infilling .jsonl.gz file"
    )
    infilling.add_argument(
        "--no-suffix",
        action="store_true",
        help="send only the prompt (the baseline that fill-in-the-middle must beat)",
    )
    infilling.add_argument(
        "--cursor",
        choices=CURSOR_POSITIONS,
        default="line-start",
        help="where the cursor sits: at the hole's line start (the data's own), at the end "
        "of the line before, after the indentation, or mid-line (default line-start)",
    )
    _add_common_flags(infilling, max_tokens=128)
    _add_stop_flag(
        infilling,
        "a newline for the single-line set, as Copilot sends for one-line suggestions; "
        "none for the others",
    )
    infilling.set_defaults(handler=cmd_infilling)
    _register_lines(commands)
    _register_plot(commands)


def _register_plot(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plot = commands.add_parser(
        "plot", help="draw pass@1 by set and configuration from earlier runs' --out files"
    )
    plot.add_argument(
        "runs",
        nargs="+",
        metavar="SET/CONFIGURATION=RESULTS.jsonl",
        help="a run's --out file and where it goes, e.g. single-line/defaults=sl.jsonl",
    )
    plot.add_argument("--out", type=Path, required=True, metavar="FILE.png")
    plot.set_defaults(handler=cmd_plot)


def cmd_plot(args: argparse.Namespace) -> int:
    from fauxpilot.evaluation.plot import parse_run, plot_pass_rates
    from fauxpilot.plotting import PlotUnavailableError

    try:
        runs = [parse_run(spec) for spec in args.runs]
        plot_pass_rates(runs, args.out)
    except (ValueError, OSError, PlotUnavailableError) as error:
        log.error("%s", error)
        return 2
    log.info("pass rates plotted to %s", args.out)
    return 0


def _register_lines(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lines = commands.add_parser(
        "lines",
        help="hide one line at a time in source code of any language; a suggestion is right "
        "when its first line is the hidden line",
    )
    lines.add_argument(
        "--source",
        type=Path,
        action="append",
        required=True,
        help="a source file, a folder of them, or a .jsonl file of problems (prompt + "
        "canonical_solution: only the solution's lines are hidden); repeatable",
    )
    lines.add_argument(
        "--cursor", choices=CURSOR_POSITIONS, default="line-start", help="as for infilling"
    )
    _add_common_flags(lines, max_tokens=48)
    _add_stop_flag(
        lines,
        "a newline, as editors ask for one-line suggestions, except with --cursor line-end, "
        "where the suggestion is the next line",
    )
    lines.set_defaults(handler=cmd_lines)


def _add_stop_flag(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--stop",
        action="append",
        default=None,
        help=f"stop sequence, repeatable (default: {default})",
    )


def _add_common_flags(parser: argparse.ArgumentParser, max_tokens: int) -> None:
    parser.add_argument("--url", default=DEFAULT_URL, help=f"the server (default {DEFAULT_URL})")
    parser.add_argument("--model", default="codegen", help="model name sent (default codegen)")
    parser.add_argument("--limit", type=positive_int, default=None, help="only the first N tasks")
    parser.add_argument(
        "--every",
        type=positive_int,
        default=1,
        help="only every K-th task, an even sample of a large set (applied before --limit)",
    )
    parser.add_argument(
        "--samples",
        type=_samples,
        default=1,
        help=f"completions per task (n), at most {MAX_SAMPLES}; default 1",
    )
    parser.add_argument(
        "--temperature",
        type=float,
        default=None,
        help=f"default 0 (greedy), or {SAMPLING_TEMPERATURE} with --samples above 1",
    )
    parser.add_argument(
        "--max-tokens", type=positive_int, default=max_tokens, help=f"default {max_tokens}"
    )
    parser.add_argument(
        "--concurrency", type=positive_int, default=4, help="requests in flight at once (default 4)"
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds per test program (default 10)"
    )
    parser.add_argument(
        "--request-timeout", type=float, default=600.0, help="seconds per request (default 600)"
    )
    parser.add_argument(
        "--wait", type=float, default=300.0, help="seconds to wait for the server's model"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="results as JSON lines; resumes if it exists"
    )
    parser.add_argument(
        "--typing-replay",
        type=int,
        default=0,
        help="before each task, send its prompt short of its last K..1 characters (default 0)",
    )
    parser.add_argument(
        "--raw-fim",
        choices=sorted(name for name, family in FAMILIES.items() if family.supports_fim),
        default=None,
        help="send this model family's FIM prompt as one raw prompt string instead of "
        "prompt and suffix: the baseline the server's own FIM must match",
    )
    parser.add_argument(
        "--raw-fim-order",
        choices=("psm", "spm"),
        default="psm",
        help="the raw FIM prompt's order: prefix first (psm, default) or suffix first (spm)",
    )
    parser.add_argument(
        "--unsafe-no-sandbox",
        action="store_true",
        help="run the programs even where no sandbox works here (they are model-written code)",
    )
    parser.add_argument("--log-level", default=None, help="debug, info (default), warning")


def _samples(text: str) -> int:
    value = positive_int(text)
    if value > MAX_SAMPLES:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_SAMPLES}, got {value}")
    return value


def cmd_humaneval(args: argparse.Namespace) -> int:
    stops = tuple(args.stop) if args.stop else HUMANEVAL_STOPS
    settings = request_settings(args, stops, True)
    return _evaluate(args, "HumanEval", load_humaneval, settings, _program_judge)


def cmd_infilling(args: argparse.Namespace) -> int:
    data: Path = args.data
    name = data.name.removesuffix(".gz").removesuffix(".jsonl")
    raw = f"raw FIM prompt, {args.raw_fim_order}"
    layout = "prompt only" if args.no_suffix else raw if args.raw_fim else "suffix"
    benchmark = f"{name} ({layout}, cursor {args.cursor})"
    stops = tuple(args.stop) if args.stop else default_infilling_stops(name, args.cursor)
    settings = request_settings(args, stops, not args.no_suffix)

    def tasks() -> list[Task]:
        return [move_cursor(as_editor_sends(task), args.cursor) for task in load_infilling(data)]

    return _evaluate(args, benchmark, tasks, settings, _program_judge)


def cmd_lines(args: argparse.Namespace) -> int:
    sources: list[Path] = args.source
    layout = f"raw FIM prompt, {args.raw_fim_order}" if args.raw_fim else "suffix"
    names = ", ".join(source.name for source in sources)
    benchmark = f"lines of {names} ({layout}, cursor {args.cursor})"
    stops = tuple(args.stop) if args.stop else default_line_stops(args.cursor)
    settings = request_settings(args, stops, True)

    def tasks() -> list[Task]:
        return [
            move_cursor(as_editor_sends(task), args.cursor) for task in load_line_tasks(sources)
        ]

    return _evaluate(args, benchmark, tasks, settings, lambda _: LineMatchJudge())


def default_line_stops(cursor: str) -> tuple[str, ...]:
    return SINGLE_LINE_STOPS if cursor != "line-end" else ()


def default_infilling_stops(data_name: str, cursor: str = "line-start") -> tuple[str, ...]:
    """One-line holes: stop at the end of the line, as editors ask for one-line suggestions.

    Not when the cursor ends the line before: the suggestion is then the next line, and an
    editor asks for it without a one-line stop.
    """
    return default_line_stops(cursor) if "SingleLine" in data_name else ()


def request_settings(
    args: argparse.Namespace, stops: tuple[str, ...], send_suffix: bool
) -> RequestSettings:
    temperature = args.temperature
    if temperature is None:
        temperature = SAMPLING_TEMPERATURE if args.samples > 1 else 0.0
    if args.samples > 1 and temperature == 0:
        log.warning("--samples %d at temperature 0: the samples will be identical", args.samples)
    return RequestSettings(
        model=args.model,
        max_tokens=args.max_tokens,
        temperature=temperature,
        samples=args.samples,
        stop=stops,
        send_suffix=send_suffix,
        request_timeout=args.request_timeout,
        typing_replay=max(0, args.typing_replay),
        raw_fim=_fim_texts(args.raw_fim),
        raw_fim_order=args.raw_fim_order,
        empty_suffix=getattr(args, "empty_suffix", False),
    )


def _fim_texts(family_name: str | None) -> tuple[str, str, str] | None:
    if family_name is None:
        return None
    family = FAMILIES[family_name]
    texts = (family.fim_prefix, family.fim_suffix, family.fim_middle)
    if None in texts:
        raise DataError(f"the {family_name} family has no FIM tokens")
    return (str(texts[0]), str(texts[1]), str(texts[2]))


def _evaluate(
    args: argparse.Namespace,
    benchmark: str,
    load: Callable[[], list[Task]],
    settings: RequestSettings,
    make_judge: Callable[[argparse.Namespace], Judge],
) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    try:
        tasks = load()[:: args.every][: args.limit]
        judge = make_judge(args)
        with CompletionClient(args.url, settings) as client:
            client.wait_until_ready(args.wait)
            outcome = run_evaluation(tasks, client, judge, RunConfig(args.concurrency, args.out))
    except (DataError, RequestFailed, SandboxUnavailableError) as error:
        log.error("%s", error)
        return 2
    except KeyboardInterrupt:
        log.error("interrupted")
        return INTERRUPTED
    run = RunDescription(benchmark, client.root, settings, judge.description)
    sys.stdout.write(format_report(outcome, run))
    return 1 if outcome.failures or not outcome.results else 0


def _program_judge(args: argparse.Namespace) -> Judge:
    sandbox = Sandbox.detect(Limits(timeout=args.timeout), allow_unsafe=args.unsafe_no_sandbox)
    if not (sandbox.isolation.network_isolated and sandbox.isolation.filesystem_protected):
        log.warning("sandbox: %s", sandbox.isolation.description)
    return ProgramJudge(sandbox)
