"""Set-up's llama.cpp step: install a build, prove it with a real decode, fall back if it dies.

    python -m fauxpilot.native.llama_setup --venv .venv                   install the build
    python -m fauxpilot.native.llama_setup --venv .venv --probe-model M   and prove it on M

Without FAUXPILOT_LLAMA_BUILD or CMAKE_ARGS the builds are tried in order native, no-amx,
portable: the first whose test decode does not crash stays installed, and the venv's
record (.venv/fauxpilot-llama-build.json) says which one and why.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from fauxpilot.native.builds import BUILD_VARIABLE, BuildChoiceError, LlamaBuild, builds_to_try
from fauxpilot.native.cpu import CpuInfo, read_cpu
from fauxpilot.native.probe import ProbeResult, package_root, run_probe
from fauxpilot.native.wheels import (
    InstalledBuild,
    WheelBuildError,
    build_wheel,
    install_wheel,
    installed_matches,
    pinned_version,
    read_record,
    sha256_file,
    write_record,
)

log = logging.getLogger("fauxpilot.setup")


class NoWorkingBuildError(RuntimeError):
    pass


def install_build(venv: Path, build: LlamaBuild, cpu: CpuInfo, version: str) -> InstalledBuild:
    wheel = build_wheel(venv / "bin" / "python", version, cpu, build)
    digest = sha256_file(wheel)
    if not installed_matches(venv, wheel, digest, cpu):
        log.info("llama.cpp: installing the %s build (%s)", build.variant, build.why)
        install_wheel(venv, wheel)
    return InstalledBuild(build.variant, build.cmake_args, wheel.name, digest, cpu.key())


def ensure_llama(
    venv: Path,
    probe_model: Path | None,
    *,
    environ: Mapping[str, str] | None = None,
    project_root: Path | None = None,
) -> InstalledBuild:
    """Install the first build that runs here; without a probe model, the first to try."""
    environ = os.environ if environ is None else environ
    cpu = read_cpu()
    version = pinned_version(project_root or package_root().parent)
    failures: list[str] = []
    for build in _untried(builds_to_try(cpu, environ), read_record(venv), cpu):
        record = install_build(venv, build, cpu, version)
        record = replace(record, fallback_reason="; ".join(failures))
        write_record(venv, record)
        if probe_model is None:
            return record
        result = run_probe(
            probe_model, python=str(venv / "bin" / "python"), variant=build.variant,
            environ=environ,
        )  # fmt: skip
        if result.ok:
            record = replace(record, decode_tokens_per_second=result.decode_tokens_per_second)
            write_record(venv, record)
            _say_chosen(record, result)
            return record
        failures.append(f"the {build.variant} build was {result.cause} in a test decode")
        log.warning("llama.cpp: %s", failures[-1])
        if not result.crashed:
            break  # not a CPU problem: another build would fail the same way
    raise NoWorkingBuildError(_no_build_message(failures, environ))


def _untried(
    builds: list[LlamaBuild], record: InstalledBuild | None, cpu: CpuInfo
) -> list[LlamaBuild]:
    """Skip the builds this venv already saw crash on this CPU (a re-run starts at the one
    that worked), unless that would leave none."""
    if record is None or record.cpu_key != cpu.key() or len(builds) == 1:
        return builds
    variants = [build.variant for build in builds]
    if record.variant in variants and record.decode_tokens_per_second > 0:
        return builds[variants.index(record.variant) :]
    return builds


def _say_chosen(record: InstalledBuild, result: ProbeResult) -> None:
    speed = f"{result.decode_tokens_per_second:.1f} tokens/s in the test decode"
    if record.fallback_reason:
        log.warning(
            "llama.cpp: using the %s build, because %s (%s); force one with %s=native|no-amx|"
            "portable",
            record.variant,
            record.fallback_reason,
            speed,
            BUILD_VARIABLE,
        )
    else:
        log.info("llama.cpp: the %s build runs on this CPU (%s)", record.variant, speed)


def _no_build_message(failures: list[str], environ: Mapping[str, str]) -> str:
    forced = environ.get(BUILD_VARIABLE) or environ.get("CMAKE_ARGS")
    advice = (
        f"unset {BUILD_VARIABLE} and CMAKE_ARGS to let set-up choose"
        if forced
        else f"try {BUILD_VARIABLE}=portable, or CMAKE_ARGS with the features your CPU enables"
    )
    return "no llama.cpp build ran on this CPU: " + "; ".join(failures) + f". {advice}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fauxpilot.native.llama_setup")
    parser.add_argument("--venv", type=Path, default=Path(".venv"))
    parser.add_argument("--probe-model", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        ensure_llama(args.venv.absolute(), args.probe_model)
    except (BuildChoiceError, WheelBuildError, NoWorkingBuildError) as error:
        log.error("%s", error)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
