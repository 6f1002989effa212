"""`fauxpilot finetune`: dataset (here), then train, evaluate and export (cli_model.py)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from pathlib import Path

from fauxpilot.cli.args import positive_int
from fauxpilot.finetune.cli_model import register_model_commands
from fauxpilot.finetune.dataset import (
    DEFAULT_HELDOUT_FRACTION,
    DEFAULT_MAX_BYTES,
    DatasetError,
    DatasetOptions,
    DatasetSummary,
    build_dataset,
    write_jsonl,
)
from fauxpilot.finetune.languages import known_languages
from fauxpilot.languages import language_named

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `finetune` group and its `dataset` command to a command's subparsers."""
    finetune = subparsers.add_parser("finetune", help="fine-tune a model on your own code")
    commands = finetune.add_subparsers(dest="finetune_command", required=True)
    dataset = commands.add_parser(
        "dataset",
        help="turn a source tree into JSON-lines training data",
        description="One record per source file (text, path, language, split), honouring "
        ".gitignore; skips vendored, generated, minified, binary and huge files, drops exact "
        "duplicates and replaces likely secrets.",
    )
    dataset.add_argument("repo_dir", type=Path, metavar="REPO_DIR", help="the source tree")
    dataset.add_argument(
        "-o", "--output", type=Path, required=True, help="the JSON-lines file to write"
    )
    dataset.add_argument(
        "--max-bytes",
        type=positive_int,
        default=DEFAULT_MAX_BYTES,
        help=f"skip files larger than this (default {DEFAULT_MAX_BYTES})",
    )
    dataset.add_argument(
        "--heldout-fraction",
        type=_fraction,
        default=DEFAULT_HELDOUT_FRACTION,
        help="share of files held out for evaluation, chosen by path so that it is the same "
        f"every run; at least one file when above 0 (default {DEFAULT_HELDOUT_FRACTION})",
    )
    dataset.add_argument(
        "--language",
        action="append",
        type=_language_id,
        metavar="LANGUAGE",
        help="keep only this language, repeatable (default all): " + ", ".join(known_languages()),
    )
    dataset.add_argument("--log-level", default=None, help="debug, info (default), warning")
    dataset.set_defaults(handler=cmd_dataset)
    register_model_commands(commands)


def _language_id(value: str) -> str:
    """A VS Code language id from it or an alias (`shell` -> `shellscript`)."""
    language = language_named(value)
    if language is None:
        raise argparse.ArgumentTypeError(
            f"unknown language {value!r}; known: " + ", ".join(known_languages())
        )
    return language.id


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {value}")
    return value


def cmd_dataset(args: argparse.Namespace) -> int:
    options = DatasetOptions(
        max_bytes=args.max_bytes,
        heldout_fraction=args.heldout_fraction,
        languages=frozenset(args.language or ()),
    )
    try:
        dataset = build_dataset(args.repo_dir, options)
        write_jsonl(dataset.records, args.output)
    except DatasetError as error:
        log.error("%s", error)
        return 2
    sys.stdout.write(format_summary(dataset.summary, args.output))
    return 0


def format_summary(summary: DatasetSummary, output: Path) -> str:
    kept = summary.train_files + summary.heldout_files
    lines = [
        f"wrote {output}",
        f"files seen:         {summary.files_seen} (listed by {summary.listing})",
        f"kept:               {kept} ({summary.train_files} train, "
        f"{summary.heldout_files} heldout)",
        f"skipped:            {summary.skipped.total()}{_by_kind(summary.skipped)}",
        f"duplicates removed: {summary.duplicates}",
        f"secrets scrubbed:   {summary.secrets.total()}{_by_kind(summary.secrets)}",
        f"text:               {summary.characters} characters, {summary.utf8_bytes} bytes",
    ]
    lines += [
        f"  scrubbed in {path}:{_by_kind(counts)}"
        for path, counts in sorted(summary.secrets_by_file.items())
    ]
    return "\n".join(lines) + "\n"


def _by_kind(counts: Counter[str]) -> str:
    if not counts:
        return ""
    kinds = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return " (" + ", ".join(f"{kind} {count}" for kind, count in kinds) + ")"
