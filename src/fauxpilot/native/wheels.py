"""Compiled llama-cpp-python wheels, kept per CPU and build, and installing one into a venv.

pip's own wheel cache is keyed by the source archive alone: a wheel compiled with
-march=native on one CPU is handed to another machine that shares the home directory, and a
wheel built with other CMAKE_ARGS is reused as if it were the same. These wheels live under
FAUXPILOT_HOME/wheels/llama-cpp-python-VERSION/CPU-KEY/BUILD-KEY/ instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import tempfile
import tomllib
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from fauxpilot.native.builds import LlamaBuild
from fauxpilot.native.cpu import CpuInfo

log = logging.getLogger(__name__)

PACKAGE = "llama-cpp-python"
RECORD_NAME = "fauxpilot-llama-build.json"


class WheelBuildError(RuntimeError):
    pass


@dataclass(frozen=True)
class InstalledBuild:
    """What set-up installed into a venv, and what its probe showed."""

    variant: str
    cmake_args: str
    wheel: str
    wheel_sha256: str
    cpu_key: str
    decode_tokens_per_second: float = 0.0
    fallback_reason: str = ""


def fauxpilot_home() -> Path:
    return Path(os.environ.get("FAUXPILOT_HOME") or os.path.expanduser("~/.cache/fauxpilot"))


def pinned_version(project_root: Path | None = None) -> str:
    """The llama-cpp-python version FauxPilot pins: from pyproject.toml, else its metadata."""
    requirements: list[str]
    if project_root is not None and (project_root / "pyproject.toml").is_file():
        with (project_root / "pyproject.toml").open("rb") as handle:
            requirements = list(map(str, tomllib.load(handle)["project"]["dependencies"]))
    else:
        requirements = metadata.requires("fauxpilot") or []
    for requirement in requirements:
        name, _, version = requirement.partition("==")
        if name.strip().split("[")[0] == PACKAGE and version:
            return version.split(";")[0].strip()
    raise WheelBuildError(f"FauxPilot does not pin {PACKAGE} to one version")


def wheel_dir(version: str, cpu: CpuInfo, build: LlamaBuild) -> Path:
    return fauxpilot_home() / "wheels" / f"{PACKAGE}-{version}" / cpu.key() / build.key()


def cached_wheel(directory: Path) -> Path | None:
    wheels = sorted(directory.glob("llama_cpp_python-*.whl"))
    return wheels[0] if wheels else None


def build_wheel(python: Path, version: str, cpu: CpuInfo, build: LlamaBuild) -> Path:
    """The wheel for this CPU and build: from the cache, or compiled now (minutes)."""
    target = wheel_dir(version, cpu, build)
    found = cached_wheel(target)
    if found is not None:
        return found
    log.info(
        "compiling llama.cpp (%s build: %s), which takes 4-16 minutes on 2 cores",
        build.variant,
        build.cmake_args or "-march=native",
    )
    env = {**os.environ, "CMAKE_ARGS": build.cmake_args, "FORCE_CMAKE": "1"}
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 1))
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".building-") as tmp:
        command = [str(python), "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-cache-dir",
                   "--no-binary", PACKAGE, "--wheel-dir", tmp, f"{PACKAGE}=={version}"]  # fmt: skip
        done = subprocess.run(command, env=env, check=False)
        if done.returncode != 0:
            raise WheelBuildError(f"compiling {PACKAGE} {version} failed (pip: {done.returncode})")
        built = cached_wheel(Path(tmp))
        if built is None:
            raise WheelBuildError(f"pip built no {PACKAGE} wheel")
        os.replace(tmp, target)  # the whole folder appears at once, or not at all
    found = cached_wheel(target)
    assert found is not None
    return found


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def record_path(venv: Path) -> Path:
    return venv / RECORD_NAME


def read_record(venv: Path) -> InstalledBuild | None:
    try:
        return InstalledBuild(**json.loads(record_path(venv).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def write_record(venv: Path, record: InstalledBuild) -> None:
    record_path(venv).write_text(json.dumps(asdict(record), indent=2) + "\n")


def install_wheel(venv: Path, wheel: Path) -> None:
    """Put exactly this wheel into the venv (its dependencies too, the first time)."""
    python = venv / "bin" / "python"
    base = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    done = subprocess.run([*base, "--force-reinstall", "--no-deps", str(wheel)], check=False)
    if done.returncode == 0:
        done = subprocess.run([*base, str(wheel)], check=False)  # numpy, jinja2, diskcache...
    if done.returncode != 0:
        raise WheelBuildError(f"installing {wheel.name} into {venv} failed")


def installed_matches(venv: Path, wheel: Path, wheel_sha256: str, cpu: CpuInfo) -> bool:
    """Whether the venv holds this very wheel (its digest given), put there by set-up on this
    kind of CPU."""
    record = read_record(venv)
    if record is None or record.cpu_key != cpu.key() or record.wheel != wheel.name:
        return False
    if record.wheel_sha256 != wheel_sha256:
        return False
    python = venv / "bin" / "python"
    found = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('llama-cpp-python'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.returncode == 0 and bool(found.stdout.strip())
