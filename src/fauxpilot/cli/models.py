"""`fauxpilot models`: list, pull (catalog or hub), import and verify models."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fauxpilot.cli.args import add_home_flag, settings_from
from fauxpilot.models.catalog import CATALOG, find_entry
from fauxpilot.models.hf_checkpoint import ensure_converted, read_checkpoint
from fauxpilot.models.hub import pull_from_hub
from fauxpilot.models.imported import ImportRegistry, import_model, verify_imported
from fauxpilot.models.pull import pull
from fauxpilot.models.resolve import resolve_model
from fauxpilot.models.store import ModelStore


def _store(args: argparse.Namespace) -> ModelStore:
    return ModelStore(settings_from(args).home)


def cmd_list(args: argparse.Namespace) -> int:
    store = _store(args)
    for entry in CATALOG:
        state = store.state(entry)
        status = "verified" if state.verified else "installed" if state.exists else "-"
        marker = "*" if entry.default else " "
        sys.stdout.write(f"{marker} {entry.name:<22} {status:<10} {entry.description}\n")
    for model in ImportRegistry(store).all().values():
        if model.kind == "hf":
            status = "installed" if (store.models_dir / model.filename).is_dir() else "missing"
        else:
            state = store.state(model.as_entry())
            status = "verified" if state.verified else "installed" if state.exists else "missing"
        sys.stdout.write(f"  {model.name:<22} {status:<10} imported from {model.source}\n")
    sys.stdout.write(f"(* default; files in {store.models_dir})\n")
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    store = _store(args)
    if "/" in args.name:
        model = pull_from_hub(store, args.name, args.file, args.as_name)
        sys.stdout.write(f"{model.name} {store.models_dir / model.filename}\n")
        return 0
    path = pull(store, find_entry(args.name), force=args.force)
    sys.stdout.write(f"{path}\n")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    store = _store(args)
    model = import_model(store, Path(args.path), args.name, link=args.link)
    if model.kind == "hf" and not args.no_convert:
        # Convert now, so a broken checkpoint shows here and the first serve starts at once.
        checkpoint = read_checkpoint(store.models_dir / model.filename)
        converted = ensure_converted(store.models_dir, checkpoint)
        sys.stdout.write(f"converted for CTranslate2 into {converted}\n")
    sys.stdout.write(
        f"imported {model.name} ({model.size:,} bytes, SHA-256 {model.sha256}); "
        f"serve it with `fauxpilot serve --model {model.name}`\n"
    )
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    store = _store(args)
    registry = ImportRegistry(store)
    entries: list[Any]
    if args.name:
        imported = registry.get(args.name)
        entries = [imported.as_entry() if imported else find_entry(args.name)]
    else:
        entries = [entry for entry in CATALOG if store.state(entry).exists]
        entries += [model.as_entry() for model in registry.all().values()]
    for entry in entries:
        imported = registry.get(entry.name)
        if imported is not None and imported.kind == "hf":
            path = verify_imported(store, imported, force_hash=True)
        else:
            path = store.verify(entry, force_hash=True)
        sys.stdout.write(f"ok {entry.name} {path}\n")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    if args.kind == "gguf-to-hf":
        from fauxpilot.models.gguf_to_hf import convert_gguf_to_hf

        source = Path(args.source)
        if not source.is_file():  # a catalog or imported name: its verified file
            source = resolve_model(args.source, _store(args), pull_missing=False).path
        target = convert_gguf_to_hf(source, Path(args.target))
    else:
        from fauxpilot.models.convert import convert_codegen_to_gptj

        target = convert_codegen_to_gptj(Path(args.source), Path(args.target))
    sys.stdout.write(f"wrote {target}\n")
    return 0


def register(commands: Any) -> None:
    models = commands.add_parser("models", help="list, pull, import and verify models")
    model_commands = models.add_subparsers(dest="models_command", required=True)
    listing = model_commands.add_parser("list", help="the catalog, imported models, state")
    listing.set_defaults(handler=cmd_list)
    pulling = model_commands.add_parser(
        "pull", help="fetch and verify a catalog model, or a GGUF from a hub repo ORG/NAME"
    )
    pulling.add_argument("name", help="catalog name, or a Hugging Face repo such as ORG/NAME")
    pulling.add_argument("--force", action="store_true", help="fetch again even if present")
    pulling.add_argument("--file", default=None, help="hub repo: which .gguf file")
    pulling.add_argument("--as-name", default=None, help="hub repo: name to serve it by")
    pulling.set_defaults(handler=cmd_pull)
    importing = model_commands.add_parser(
        "import", help="serve a local .gguf file or Hugging Face checkpoint by a name"
    )
    importing.add_argument("path", help="a .gguf file or a Hugging Face checkpoint folder")
    importing.add_argument(
        "--no-convert",
        action="store_true",
        help="checkpoint: convert for CTranslate2 on first serve instead of now",
    )
    importing.add_argument("--name", default=None, help="name to serve it by (default: stem)")
    importing.add_argument(
        "--link", action="store_true", help="link to the file instead of copying it"
    )
    importing.set_defaults(handler=cmd_import)
    verify = model_commands.add_parser("verify", help="re-hash installed models")
    verify.add_argument("name", nargs="?")
    verify.set_defaults(handler=cmd_verify)
    convert = model_commands.add_parser(
        "convert",
        help="gguf-to-hf (dequantized, for fine-tuning) or codegen-to-gptj (FauxPilot's "
        "re-arrangement)",
    )
    convert.add_argument("kind", choices=["gguf-to-hf", "codegen-to-gptj"])
    convert.add_argument(
        "source", help="gguf-to-hf: a .gguf file or model name; codegen-to-gptj: a checkpoint"
    )
    convert.add_argument("target", help="new directory for the Hugging Face checkpoint")
    convert.set_defaults(handler=cmd_convert)
    for sub in (listing, pulling, importing, verify, convert):
        add_home_flag(sub)
