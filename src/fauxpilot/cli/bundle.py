"""`fauxpilot bundle create | install | place-models`: the commands around fauxpilot.bundle."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fauxpilot.bundle import (
    BundleError,
    build_portable_llama_wheel,
    create_bundle,
    install_bundle,
    place_models,
)
from fauxpilot.cli.args import settings_from
from fauxpilot.models.store import ModelFileError, ModelStore


def cmd_create(args: argparse.Namespace) -> int:
    store = ModelStore(settings_from(args).home)
    llama_wheel = args.llama_wheel
    if args.portable and llama_wheel is None:
        llama_wheel = build_portable_llama_wheel()
    manifest = create_bundle(args.out, args.models or [], store, llama_wheel, args.bundle_config)
    size = args.out.stat().st_size
    sys.stdout.write(
        f"{args.out}: {len(manifest['wheels'])} wheels, {len(manifest['models'])} models, "
        f"{size / 2**20:,.0f} MiB\n"
    )
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    install_bundle(args.bundle, args.target)
    config = args.target / "config.toml"
    sys.stdout.write(
        f"installed into {args.target}; start it with:\n"
        f"  {args.target}/.venv/bin/fauxpilot serve --config {config}\n"
    )
    return 0


def cmd_place_models(args: argparse.Namespace) -> int:
    try:
        config = place_models(args.unpacked, args.target)
    except ModelFileError as error:
        raise BundleError(f"a model in the bundle is damaged: {error}") from error
    sys.stdout.write(f"models in place; config: {config}\n")
    return 0


def register(commands: Any) -> None:
    bundle = commands.add_parser("bundle", help="offline bundles for air-gapped machines")
    sub = bundle.add_subparsers(dest="bundle_command", required=True)
    create = sub.add_parser("create", help="wheels, models and config in one tar file")
    create.add_argument("out", type=Path, help="the tar file to write")
    create.add_argument(
        "--model", dest="models", action="append", help="catalog model to include (repeatable)"
    )
    create.add_argument("--llama-wheel", type=Path, default=None, help="llama-cpp-python wheel")
    create.add_argument(
        "--portable",
        action="store_true",
        help="compile llama-cpp-python for any AVX2 x86-64 CPU first (5-16 minutes)",
    )
    create.add_argument("--bundle-config", type=Path, default=None, help="config to include")
    create.add_argument("--home", default=None, help="model home (env FAUXPILOT_HOME)")
    create.set_defaults(handler=cmd_create)
    install = sub.add_parser("install", help="set up TARGET/.venv from a bundle, offline")
    install.add_argument("bundle", type=Path)
    install.add_argument("--target", type=Path, default=Path("fauxpilot"))
    install.set_defaults(handler=cmd_install)
    place = sub.add_parser("place-models", help="(used by install.sh) place bundled models")
    place.add_argument("unpacked", type=Path)
    place.add_argument("--target", type=Path, required=True)
    place.set_defaults(handler=cmd_place_models)
