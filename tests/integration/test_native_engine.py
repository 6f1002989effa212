"""The native engine's proofs, for real: set-up's probe and fallback, the start-up check, and
`fauxpilot doctor`, each with llama.cpp itself in a child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from fauxpilot.config.settings import Settings
from fauxpilot.engine.base import EngineError
from fauxpilot.engine.llamacpp import GgufSpec, LlamaCppEngine
from fauxpilot.engine.llamacpp_model import LlamaModel
from fauxpilot.models.catalog import find_entry
from fauxpilot.models.store import ModelStore
from fauxpilot.native.probe import CRASH_VARIABLE, run_probe
from fauxpilot.native.wheels import read_record
from tests.engines import MAX_WAITING, cpu_options

pytestmark = pytest.mark.integration


def tiny_model() -> Path:
    return ModelStore(Settings().home).verify(find_entry("smollm2-135m"))


def fauxpilot(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "fauxpilot", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def test_the_engine_is_ready_only_after_its_first_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    options = cpu_options(threads=2, context_per_slot=512, slots=2, batch_size=64)
    engine = LlamaCppEngine(GgufSpec("smollm2-135m", tiny_model(), None, options, MAX_WAITING))
    decoded: list[bool] = []
    real_warm_up = LlamaModel.warm_up

    def counting_warm_up(model: LlamaModel) -> None:
        assert engine.health().status == "loading"
        real_warm_up(model)
        decoded.append(True)

    monkeypatch.setattr(LlamaModel, "warm_up", counting_warm_up)
    engine.start()
    try:
        assert decoded == [True] and engine.health().ready
    finally:
        engine.close()

    def failing_warm_up(model: LlamaModel) -> None:
        raise EngineError("llama_decode failed with status 1")

    monkeypatch.setattr(LlamaModel, "warm_up", failing_warm_up)
    broken = LlamaCppEngine(GgufSpec("smollm2-135m", tiny_model(), None, options, MAX_WAITING))
    with pytest.raises(EngineError):
        broken.start()
    health = broken.health()
    assert not health.ready and health.status == "failed"
    assert health.detail == "the first test decode failed: llama_decode failed with status 1"


def test_serve_refuses_to_start_when_the_build_crashes_here(tmp_path: Path) -> None:
    status, output = fauxpilot(
        "serve", "--model", str(tiny_model()), "--port", "1", "--home", str(tmp_path),
        env={CRASH_VARIABLE: "all"}, timeout=120,
    )  # fmt: skip
    assert status == 2, output
    assert "crashed in a test decode" in output and "SIGSEGV" in output
    assert "scripts/setup.sh" in output and "FAUXPILOT_LLAMA_BUILD=no-amx" in output
    assert "Uvicorn running" not in output  # it never listened


def test_complete_refuses_the_same_way(tmp_path: Path) -> None:
    status, output = fauxpilot(
        "complete", "def fib(n):", "--model", str(tiny_model()), "--home", str(tmp_path),
        env={CRASH_VARIABLE: "all"}, timeout=120,
    )  # fmt: skip
    assert status == 2 and "crashed in a test decode" in output, output


def test_doctor_reports_a_working_engine_with_its_speed(tmp_path: Path) -> None:
    status, output = fauxpilot("doctor", "--model", "smollm2-135m", "--threads", "2")
    assert status == 0, output
    lines = {line.split(":", 1)[0]: line for line in output.splitlines()}
    decode = lines["ok   test decode"]
    assert "decode" in decode and "tokens/s; built for" in decode and "AVX" in decode
    assert "ok   cpu" in lines and "ok   llama.cpp build" in lines and "ok   memory" in lines
    assert "SHA-256 verified" in lines["ok   model smollm2-135m"]


def test_doctor_fails_with_the_fix_when_the_build_crashes_or_the_address_is_open() -> None:
    status, output = fauxpilot(
        "doctor", "--model", "smollm2-135m", "--host", "0.0.0.0", env={CRASH_VARIABLE: "all"}
    )
    assert status == 1, output
    assert "FAIL test decode: smollm2-135m: killed by SIGSEGV" in output
    assert "FAIL address" in output and "--api-key" in output
    assert output.count("fix:") >= 2


def test_set_up_replaces_a_build_whose_test_decode_crashes(tmp_path: Path) -> None:
    """A fresh venv; the native build's probe is made to crash: the no-amx build is compiled
    (minutes the first time, then cached per CPU), installed, and proven by a real decode."""
    target = tmp_path / "venv"
    venv.create(target, with_pip=True)
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "fauxpilot.native.llama_setup", "--venv", str(target),
         "--probe-model", str(tiny_model())],
        capture_output=True, text=True, timeout=2400, check=False, cwd=root,
        env={**os.environ, CRASH_VARIABLE: "native"},
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "the native build was killed by SIGSEGV in a test decode" in output
    assert "using the no-amx build" in output
    record = read_record(target)
    assert record is not None and record.variant == "no-amx"
    assert "-DGGML_AMX_INT8=OFF" in record.cmake_args and record.decode_tokens_per_second > 0
    # Without the forced crash, the venv's llama.cpp decodes: the fallback is a real build.
    result = run_probe(tiny_model(), python=str(target / "bin" / "python"), tokens=4)
    assert result.ok and result.generated_tokens == 4, result.cause
    assert (
        json.loads(Path(target / "fauxpilot-llama-build.json").read_text())["variant"] == "no-amx"
    )
