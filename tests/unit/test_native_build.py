"""Choosing, probing and falling back between llama.cpp builds (no compiling here)."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

from fauxpilot.native import llama_setup, startup_check
from fauxpilot.native.builds import BuildChoiceError, builds_to_try, no_amx_args
from fauxpilot.native.cpu import CpuInfo, parse_cpuinfo
from fauxpilot.native.probe import CRASH_VARIABLE, ProbeResult, interpret, run_probe
from fauxpilot.native.wheels import InstalledBuild, read_record

SAPPHIRE_RAPIDS = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu sse4_2 avx avx2 fma f16c bmi2 avx512f avx512bw avx512vl avx512vbmi \
avx512_vnni avx512_bf16 avx512_fp16 avx_vnni amx_bf16 amx_tile amx_int8
processor\t: 1
model name\t: something else
flags\t\t: fpu
"""
HASWELL = CpuInfo("x86_64", "Haswell", frozenset({"sse4_2", "avx", "avx2", "fma", "f16c"}))


def sapphire_rapids() -> CpuInfo:
    return parse_cpuinfo(SAPPHIRE_RAPIDS, "x86_64")


def test_cpuinfo_gives_the_first_processors_name_and_flags() -> None:
    cpu = sapphire_rapids()
    assert cpu.model_name.startswith("Intel(R) Xeon(R) Platinum 8481C")
    assert {"amx_int8", "avx512f", "avx2"} <= cpu.flags and "fpu" in cpu.flags
    assert cpu.reports_amx and not HASWELL.reports_amx
    assert cpu.key() != HASWELL.key() and cpu.key() == sapphire_rapids().key()


def test_no_amx_names_each_feature_of_this_cpu_and_turns_amx_off() -> None:
    args = no_amx_args(sapphire_rapids()).split()
    assert "-DGGML_NATIVE=OFF" in args
    for option in ("AVX2", "AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16", "AVX_VNNI"):
        assert f"-DGGML_{option}=ON" in args
    for option in ("AMX_TILE", "AMX_INT8", "AMX_BF16"):
        assert f"-DGGML_{option}=OFF" in args
    haswell = no_amx_args(HASWELL).split()
    assert "-DGGML_AVX2=ON" in haswell and "-DGGML_AVX512=OFF" in haswell


def test_builds_are_tried_native_then_no_amx_then_portable() -> None:
    builds = builds_to_try(sapphire_rapids(), {})
    assert [build.variant for build in builds] == ["native", "no-amx", "portable"]
    assert builds[0].cmake_args == ""
    assert "AVX512=OFF" in builds[2].cmake_args and "AMX" not in builds[2].cmake_args
    arm = CpuInfo("aarch64", "", frozenset({"asimd"}))
    assert [build.variant for build in builds_to_try(arm, {})] == ["native", "portable"]


def test_a_forced_build_is_the_only_one_tried() -> None:
    cpu = sapphire_rapids()
    forced = builds_to_try(cpu, {"FAUXPILOT_LLAMA_BUILD": "portable", "CMAKE_ARGS": "-DX=1"})
    assert [build.variant for build in forced] == ["portable"]
    custom = builds_to_try(cpu, {"CMAKE_ARGS": "-DGGML_NATIVE=OFF -DGGML_AVX2=ON"})
    assert [(b.variant, b.cmake_args) for b in custom] == [
        ("custom", "-DGGML_NATIVE=OFF -DGGML_AVX2=ON")
    ]
    with pytest.raises(BuildChoiceError, match="native, no-amx, portable"):
        builds_to_try(cpu, {"FAUXPILOT_LLAMA_BUILD": "fast"})


def test_exit_statuses_are_read_as_crashes_or_errors() -> None:
    crash = interpret(-signal.SIGSEGV, "", "")
    assert not crash.ok and crash.crashed and crash.cause == "killed by SIGSEGV"
    assert interpret(-signal.SIGILL, "", "").crashed
    error = interpret(1, "", "Traceback...\nValueError: no such model\n")
    assert not error.ok and not error.crashed and "no such model" in error.cause
    report = {"prompt_tokens": 60, "generated_tokens": 2, "decode_tokens_per_second": 30.0}
    fine = interpret(0, "noise\n" + json.dumps(report) + "\n", "")
    assert fine.ok and fine.prompt_tokens == 60 and fine.decode_tokens_per_second == 30.0


def test_a_real_crash_in_the_probe_child_is_a_result(tmp_path: Path) -> None:
    environ = {CRASH_VARIABLE: "native", "PATH": "/usr/bin:/bin"}
    result = run_probe(tmp_path / "none.gguf", python=sys.executable, variant="native",
                       environ=environ)  # fmt: skip
    assert not result.ok and result.crashed and "SIGSEGV" in result.cause
    other = run_probe(tmp_path / "none.gguf", variant="portable", environ=environ)
    assert not other.ok and not other.crashed  # ran, and failed on the missing model


class FakeBuilds:
    """Stands in for compiling and installing: records which builds were installed."""

    def __init__(self, crashing: set[str]) -> None:
        self.crashing = crashing
        self.installed: list[str] = []

    def install(self, venv: Path, build: object, cpu: CpuInfo, version: str) -> InstalledBuild:
        variant = build.variant  # type: ignore[attr-defined]
        self.installed.append(variant)
        return InstalledBuild(variant, "", f"{variant}.whl", "0" * 64, cpu.key())

    def probe(self, model: Path, **kwargs: object) -> ProbeResult:
        variant = str(kwargs["variant"])
        if variant in self.crashing:
            return ProbeResult(ok=False, cause="killed by SIGSEGV", crashed=True)
        return ProbeResult(ok=True, cause="", decode_tokens_per_second=25.0)


def test_a_crashing_build_is_replaced_by_the_next_and_the_record_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeBuilds(crashing={"native"})
    monkeypatch.setattr(llama_setup, "install_build", fake.install)
    monkeypatch.setattr(llama_setup, "run_probe", fake.probe)
    record = llama_setup.ensure_llama(tmp_path, tmp_path / "tiny.gguf", environ={})
    assert fake.installed == ["native", "no-amx"]
    assert record.variant == "no-amx" and "native build was killed by SIGSEGV" in (
        record.fallback_reason
    )
    assert read_record(tmp_path) == record
    # A second set-up starts at the build that worked instead of crashing again.
    fake.installed.clear()
    llama_setup.ensure_llama(tmp_path, tmp_path / "tiny.gguf", environ={})
    assert fake.installed == ["no-amx"]


def test_when_every_build_crashes_set_up_fails_with_the_causes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeBuilds(crashing={"native", "no-amx", "portable"})
    monkeypatch.setattr(llama_setup, "install_build", fake.install)
    monkeypatch.setattr(llama_setup, "run_probe", fake.probe)
    with pytest.raises(llama_setup.NoWorkingBuildError, match="portable build was killed"):
        llama_setup.ensure_llama(tmp_path, tmp_path / "tiny.gguf", environ={})
    forced = FakeBuilds(crashing={"portable"})
    (tmp_path / "other").mkdir()
    monkeypatch.setattr(llama_setup, "install_build", forced.install)
    monkeypatch.setattr(llama_setup, "run_probe", forced.probe)
    with pytest.raises(llama_setup.NoWorkingBuildError, match="unset FAUXPILOT_LLAMA_BUILD"):
        llama_setup.ensure_llama(
            tmp_path / "other",
            tmp_path / "tiny.gguf",
            environ={"FAUXPILOT_LLAMA_BUILD": "portable"},
        )
    assert forced.installed == ["portable"]


def test_the_start_up_check_refuses_a_crashing_build_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setenv(CRASH_VARIABLE, "all")
    with pytest.raises(startup_check.EngineCrashError, match=r"SIGSEGV.*scripts/setup\.sh"):
        startup_check.ensure_engine_runs(model, tmp_path, threads=1)
    assert not (tmp_path / startup_check.CHECKS_FILE).exists()


def test_a_passed_start_up_check_is_remembered_until_the_model_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    probes: list[Path] = []

    def passing_probe(path: Path, **kwargs: object) -> ProbeResult:
        probes.append(path)
        return ProbeResult(ok=True, cause="", decode_tokens_per_second=20.0)

    monkeypatch.setattr(startup_check, "run_probe", passing_probe)
    startup_check.ensure_engine_runs(model, tmp_path, threads=1)
    startup_check.ensure_engine_runs(model, tmp_path, threads=1)
    assert probes == [model]
    model.write_bytes(b"GGUF" * 2)
    startup_check.ensure_engine_runs(model, tmp_path, threads=1)
    assert probes == [model, model]
