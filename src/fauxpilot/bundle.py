"""Offline bundles: everything an air-gapped machine needs, in one tar file.

`fauxpilot bundle create OUT.tar` collects wheels for every dependency on this platform (the
compiled llama-cpp-python wheel included), the chosen models with their SHA-256, an optional
config file and an `install.sh`. `fauxpilot bundle install OUT.tar --target DIR` (or
`sh install.sh DIR` from the unpacked tar, on a machine without FauxPilot) creates DIR/.venv
with `pip install --no-index`, then places and verifies the models. No step touches the
network.
"""

from __future__ import annotations

import json
import logging
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from fauxpilot.config.file import read_config, write_config
from fauxpilot.errors import UserError
from fauxpilot.models.catalog import find_entry
from fauxpilot.models.store import ModelStore, sha256_of
from fauxpilot.native.builds import build_named
from fauxpilot.native.cpu import read_cpu
from fauxpilot.native.wheels import build_wheel
from fauxpilot.progress import progress_bar

log = logging.getLogger(__name__)

BUNDLE_DIR = "fauxpilot-bundle"
MANIFEST = "MANIFEST.json"
LLAMA_PACKAGE = "llama-cpp-python"
INSTALL_SH = """#!/bin/sh
# Installs FauxPilot from this bundle without network: sh install.sh [TARGET_DIR]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
target=${1:-$PWD/fauxpilot}
python=${PYTHON:-python3}
mkdir -p "$target"
"$python" -m venv "$target/.venv"
"$target/.venv/bin/pip" install --quiet --no-index --find-links "$here/wheels" \
  --require-hashes -r "$here/requirements.txt"
"$target/.venv/bin/fauxpilot" bundle place-models "$here" --target "$target"
"""


class BundleError(UserError, RuntimeError):
    pass


def project_root() -> Path:
    """The source checkout this FauxPilot runs from (bundles are made from one)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file():
        raise BundleError("bundles are made from a source checkout of FauxPilot")
    return root


def build_portable_llama_wheel() -> Path:
    """llama-cpp-python without -march=native (compiled once, 5-16 minutes on 2 cores)."""
    cpu = read_cpu()
    version = metadata.version(LLAMA_PACKAGE)
    return build_wheel(Path(sys.executable), version, cpu, build_named("portable", cpu))


def collect_wheels(wheel_dir: Path, llama_wheel: Path | None) -> list[str]:
    """Wheels of FauxPilot and every dependency for this platform into `wheel_dir`."""
    wheel_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--prefer-binary",
               "--wheel-dir", str(wheel_dir)]  # fmt: skip
    if llama_wheel is not None:
        shutil.copy2(llama_wheel, wheel_dir / llama_wheel.name)
        command += ["--find-links", str(wheel_dir)]
    _run([*command, str(project_root())])
    return sorted(path.name for path in wheel_dir.glob("*.whl"))


def create_bundle(
    out: Path,
    models: list[str],
    store: ModelStore,
    llama_wheel: Path | None = None,
    config: Path | None = None,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fauxpilot-bundle-") as tmp:
        root = Path(tmp) / BUNDLE_DIR
        wheels = collect_wheels(root / "wheels", llama_wheel)
        entries = [_add_model(root / "models", store, name) for name in models]
        if config is not None:
            shutil.copy2(config, root / "config.toml")
        manifest = {
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "platform": f"{platform.system()} {platform.machine()}",
            "python": platform.python_version(),
            "llama_wheel": "portable (AVX2)" if llama_wheel else "pip's build for this CPU",
            "wheels": wheels,
            "models": entries,
        }
        (root / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        (root / "requirements.txt").write_text(hashed_requirements(root / "wheels"))
        (root / "install.sh").write_text(INSTALL_SH)
        (root / "install.sh").chmod(0o755)
        _write_tar(root, out)
    return manifest


def _write_tar(root: Path, out: Path) -> None:
    """`out` holds `root` as BUNDLE_DIR/; a bar counts its bytes on a terminal."""
    paths = sorted(root.rglob("*"))
    sizes = {path: path.stat().st_size if path.is_file() else 0 for path in paths}
    total = sum(sizes.values())
    with tarfile.open(out, "w") as archive, progress_bar(total, out.name, unit="B") as bar:
        archive.add(root, arcname=BUNDLE_DIR, recursive=False)
        for path in paths:
            archive.add(path, arcname=f"{BUNDLE_DIR}/{path.relative_to(root)}", recursive=False)
            bar.update(sizes[path])


def hashed_requirements(wheel_dir: Path) -> str:
    """One pinned line with its SHA-256 per wheel: pip then installs exactly these files."""
    lines = []
    for wheel in sorted(wheel_dir.glob("*.whl")):
        name, version = wheel.name.split("-")[:2]
        lines.append(f"{name}=={version} --hash=sha256:{sha256_of(wheel)}")
    return "\n".join(lines) + "\n"


def _add_model(models_dir: Path, store: ModelStore, name: str) -> dict[str, Any]:
    entry = find_entry(name)
    source = store.verify(entry)
    models_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, models_dir / entry.filename)
    return {"name": entry.name, "file": entry.filename, "size": entry.size,
            "sha256": entry.sha256}  # fmt: skip


def install_bundle(bundle: Path, target: Path) -> None:
    """Unpack a bundle into target/bundle and run its install.sh (no network)."""
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(bundle) as archive:
        archive.extractall(target, filter="data")
    unpacked = target / BUNDLE_DIR
    _run(["sh", str(unpacked / "install.sh"), str(target)])


def place_models(unpacked: Path, target: Path) -> Path:
    """Move the bundle's models into target/home, verify them, and write target/config.toml."""
    manifest = json.loads((unpacked / MANIFEST).read_text())
    home = target / "home"
    store = ModelStore(home)
    store.models_dir.mkdir(parents=True, exist_ok=True)
    for model in manifest["models"]:
        entry = find_entry(model["name"])
        if model.get("file") != entry.filename:  # the catalog names the file, not the bundle
            raise BundleError(
                f"the bundle names {model.get('file')!r} for {entry.name}, whose file is "
                f"{entry.filename!r}: refusing it"
            )
        shutil.move(str(unpacked / "models" / entry.filename), store.path_for(entry))
        store.verify(entry, force_hash=True)
        log.info("placed and verified %s", entry.name)
    config = read_config(unpacked / "config.toml")
    config["home"] = str(home)
    if manifest["models"] and "model" not in config:
        config["model"] = manifest["models"][0]["name"]
    config_path = target / "config.toml"
    write_config(config_path, config)
    return config_path


def _run(command: list[str], env: dict[str, str] | None = None) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BundleError(f"{' '.join(command[:4])} ... failed:\n{result.stderr[-3000:]}")
