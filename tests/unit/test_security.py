"""Findings of the security review (RELIABILITY.md, "Security"): each failed before its fix."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import struct
import tempfile
import threading
from collections.abc import AsyncGenerator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from fauxpilot.api import create_app
from fauxpilot.api.auth import key_label
from fauxpilot.api.config import ApiConfig
from fauxpilot.api.hosts import allowed_hosts, host_name
from fauxpilot.api.protocol import MAX_LOGIT_BIAS, CompletionRequest
from fauxpilot.bundle import INSTALL_SH, BundleError, hashed_requirements, place_models
from fauxpilot.config.settings import Settings
from fauxpilot.engine.base import (
    EngineEvent,
    EngineOverloaded,
    GenerationRequest,
    SamplingParams,
)
from fauxpilot.engine.sampling import adjust_logits
from fauxpilot.engine.slots import SlotPool
from fauxpilot.evaluation import sandbox as sandbox_module
from fauxpilot.evaluation.sandbox import Sandbox, SandboxUnavailableError
from fauxpilot.evaluation.sandbox_limits import Limits
from fauxpilot.evaluation.sandbox_seccomp import ARCHITECTURES, filter_program
from fauxpilot.models.catalog import UnknownModelError
from fauxpilot.models.resolve import resolve_model
from fauxpilot.models.store import ModelStore

from .fakes import ByteTokenizer, FakeEngine


def metric_series(client: TestClient, name: str) -> list[str]:
    return [line for line in client.get("/metrics").text.splitlines() if line.startswith(name)]


def test_request_methods_cannot_grow_the_metrics(client: TestClient) -> None:
    before = len(metric_series(client, "fauxpilot_http_requests_total"))
    for number in range(40):
        client.request(f"FAKE{number}", "/v1/completions")
    series = metric_series(client, "fauxpilot_http_requests_total")
    assert len(series) <= before + 2  # one "other" series (and the /metrics GET itself)
    assert any('method="other"' in line for line in series)
    assert not any("FAKE" in line for line in series)


RAW_SURROGATE = '"a\\ud800b"'  # JSON for a string holding a lone surrogate


def post_raw(client: TestClient, path: str, body: str) -> tuple[int, dict[str, object]]:
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/completions", '{"prompt": ' + RAW_SURROGATE + ', "max_tokens": 4}'),
        ("/v1/completions", '{"prompt": "x", "suffix": ' + RAW_SURROGATE + "}"),
        ("/v1/completions", '{"prompt": "x", "stop": [' + RAW_SURROGATE + "]}"),
        (
            "/v1/chat/completions",
            '{"messages": [{"role": "user", "content": ' + RAW_SURROGATE + "}]}",
        ),
        ("/completion", '{"prompt": ' + RAW_SURROGATE + ', "n_predict": 4}'),
        ("/infill", '{"input_prefix": ' + RAW_SURROGATE + ', "n_predict": 4}'),
    ],
)
def test_a_lone_surrogate_is_a_400_and_the_server_keeps_serving(
    client: TestClient, engine: FakeEngine, path: str, body: str
) -> None:
    status, payload = post_raw(client, path, body)
    assert status == 400, payload
    assert "surrogate" in json.dumps(payload)
    engine.queue_output("ok")
    assert client.post("/v1/completions", json={"prompt": "x", "max_tokens": 2}).status_code == 200


def test_a_logit_bias_key_that_is_a_digit_but_not_a_number_is_a_400(client: TestClient) -> None:
    for key in ("²", "٣", "1e3", ""):
        response = client.post(
            "/v1/completions", json={"prompt": "x", "logit_bias": {key: 1.0}, "max_tokens": 2}
        )
        assert response.status_code == 400, (key, response.text)
        assert response.json()["error"]["param"] == "logit_bias"


def test_a_cache_warming_request_whose_prompt_fills_the_context_is_not_a_500(
    client: TestClient, engine: FakeEngine
) -> None:
    prompt = "x = 1\n" * (engine.context_length // 2)
    for path, body in (
        ("/completion", {"prompt": prompt, "n_predict": 0}),
        ("/infill", {"input_prefix": prompt, "input_suffix": "y\n", "n_predict": 0}),
    ):
        response = client.post(path, json=body)
        assert response.status_code in (200, 400), response.text
        if response.status_code == 400:
            assert response.json()["error"]["type"] == "invalid_request_error"


def test_more_slots_than_the_batch_holds_is_refused_in_settings() -> None:
    with pytest.raises(ValidationError, match=r"--slots 64.*--batch-size 32"):
        Settings(slots=64, batch_size=32)
    assert Settings(slots=32, batch_size=32).slots == 32


def test_a_file_named_like_a_catalog_model_does_not_shadow_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "qwen2.5-coder-0.5b").write_bytes(b"GGUF" + b"\0" * 64)
    store = ModelStore(tmp_path / "home")
    with pytest.raises(Exception, match="not installed") as caught:
        resolve_model("qwen2.5-coder-0.5b", store, pull_missing=False)
    assert "hash" not in str(caught.value)
    (tmp_path / "mymodel").write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(UnknownModelError, match=r"\./mymodel"):
        resolve_model("mymodel", store, pull_missing=False)


def test_evaluation_refuses_to_run_code_without_a_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox_module, "candidate_isolations", list)
    with pytest.raises(SandboxUnavailableError, match="--unsafe-no-sandbox"):
        Sandbox.detect(Limits(timeout=5))
    unsafe = Sandbox.detect(Limits(timeout=5), allow_unsafe=True)
    assert unsafe.isolation.description.startswith("none")


FORK_BOMB = """
import os, time
forked = 0
try:
    for _ in range(400):
        if os.fork() == 0:
            time.sleep(20)
            os._exit(0)
        forked += 1
except OSError:
    pass
raise SystemExit(f"forked {forked}")
"""


def test_a_fork_bomb_is_stopped_by_the_process_limit_in_every_mode() -> None:
    """Every isolation mode that runs here, root's included (RLIMIT_NPROC does not bind
    root: a pids cgroup does)."""
    limits = Limits(timeout=15, processes=32)
    ran = 0
    for isolation in sandbox_module.candidate_isolations():
        result = sandbox_module.execute(FORK_BOMB, isolation, limits)
        if "forked " not in result.error:
            continue  # this mode cannot start Python here (the probe would skip it too)
        ran += 1
        forked = int(result.error.rsplit("forked ", 1)[1].split()[0])
        assert forked < limits.processes, (isolation.description, result.error)
    if ran == 0:
        pytest.skip("no isolation mode runs here")


# Each escape a program might try through a system call, and whether it worked.
ESCAPES = """
import ctypes, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
worked = []
try:
    socket.socket(socket.AF_UNIX).close()
    worked.append("unix socket")
except PermissionError:
    pass
try:
    socket.socketpair()
    worked.append("unix socket pair")
except PermissionError:
    pass
for name, call in [
    ("ptrace", lambda: libc.ptrace(16, os.getppid(), 0, 0)),  # PTRACE_ATTACH the parent
    ("unshare", lambda: libc.unshare(0x10000000)),  # a new user namespace
    ("mount", lambda: libc.mount(b"none", b".", b"tmpfs", 0, None)),
    ("bpf", lambda: libc.syscall(321 if os.uname().machine == "x86_64" else 280, 0, 0, 0)),
]:
    if call() == 0 or ctypes.get_errno() != 1:
        worked.append(name)
pid = os.fork()  # ordinary processes still work
if pid == 0:
    os._exit(7)
assert os.waitpid(pid, 0)[1] >> 8 == 7
socket.socket(socket.AF_INET).close()
if worked:
    raise SystemExit("escapes: " + ", ".join(worked))
"""


@pytest.mark.skipif(not filter_program(), reason="no system-call filter for this architecture")
def test_the_system_call_filter_holds_in_every_mode() -> None:
    """Every isolation mode that runs a program here, and none at all (--unsafe-no-sandbox):
    the bootstrap installs the filter in each."""
    limits = Limits(timeout=15)
    modes = [*sandbox_module.candidate_isolations(), sandbox_module.Isolation("none")]
    ran = []
    for isolation in modes:
        if not sandbox_module.execute("pass", isolation, limits).passed:
            continue  # this mode cannot start Python here (the probe would skip it too)
        result = sandbox_module.execute(ESCAPES, isolation, limits)
        assert result.passed, (isolation.description, result.error)
        ran.append(isolation.description)
    assert "none" in ran


def test_the_filter_refuses_what_it_lists_and_lets_the_rest_through() -> None:
    for machine, architecture in ARCHITECTURES.items():
        program = filter_program(machine)
        assert len(program) % 8 == 0 and len(program) // 8 < 4096
        words = [
            struct.unpack_from("<HBBI", program, offset) for offset in range(0, len(program), 8)
        ]
        compared = {constant for code, _, _, constant in words if code == 0x15}
        assert architecture.audit_arch in compared
        for name in ("ptrace", "mount", "unshare", "bpf", "socket", "clone", "clone3"):
            assert architecture.numbers[name] in compared, (machine, name)
        assert architecture.numbers.get("read", -1) not in compared
    assert filter_program("riscv64") == b""


def test_a_rebound_host_name_is_refused_and_loopback_names_are_not(engine: FakeEngine) -> None:
    allowed = allowed_hosts("127.0.0.1", ["fauxpilot.internal"])
    config = ApiConfig(allowed_hosts=allowed)
    with TestClient(create_app(engine, "fake-model", config=config)) as client:
        for host in ("evil.example:5000", "127.0.0.1.evil.example", "attacker"):
            response = client.get("/v1/models", headers={"host": host})
            assert response.status_code == 403, host
            assert response.json()["error"]["code"] == "invalid_host"
        for host in ("127.0.0.1:5000", "localhost:5000", "[::1]:5000", "FauxPilot.internal"):
            assert client.get("/v1/models", headers={"host": host}).status_code == 200, host
    assert allowed_hosts("0.0.0.0", []) is None  # every address: names unknown, keys guard it
    assert allowed_hosts("127.0.0.1", ["*"]) is None
    assert host_name("[::1]:5000") == "::1" and host_name("Example.COM:80") == "example.com"


def test_logit_bias_is_bounded_and_applied_in_one_vector_step(client: TestClient) -> None:
    huge = {str(token): 1.0 for token in range(MAX_LOGIT_BIAS + 1)}
    response = client.post("/v1/completions", json={"prompt": "x", "logit_bias": huge})
    assert response.status_code == 400 and "at most" in response.json()["error"]["message"]
    params = SamplingParams(logit_bias={token: 0.5 for token in range(0, 40000, 3)})
    logits = np.zeros(50000, dtype=np.float32)
    adjusted = adjust_logits(logits, params, {})
    assert adjusted[3] == 0.5 and adjusted[4] == 0.0 and adjusted.sum() == 0.5 * 13334
    assert params.logit_bias_arrays[0] is params.logit_bias_arrays[0]  # built once


class OneSequenceRefused(FakeEngine):
    """The third sequence of a request finds the queue full; the others would run long."""

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[EngineEvent, None]:
        if request.request_id.endswith("-2"):
            await asyncio.sleep(0.05)
            raise EngineOverloaded("the waiting queue is full")
        async for event in super().generate(request):
            yield event


def test_a_503_for_one_of_n_sequences_cancels_its_siblings() -> None:
    engine = OneSequenceRefused(context_length=1024, step_delay=0.01)
    engine.default_output = "x" * 400
    with TestClient(create_app(engine, "fake-model")) as client:
        response = client.post("/v1/completions", json={"prompt": "a", "n": 4, "max_tokens": 300})
        assert response.status_code == 503
        assert sorted(request.request_id[-2:] for request in engine.requests) == [
            "-0", "-1", "-3"
        ]  # fmt: skip
        # Every sibling was closed before the answer, none ran on to its 300 tokens.
        assert sorted(aborted[-2:] for aborted in engine.aborted) == ["-0", "-1", "-3"]


def test_a_bundle_pins_every_wheel_by_hash_and_its_models_by_the_catalog(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "numpy-2.1.0-cp311-cp311-linux_x86_64.whl").write_bytes(b"numpy wheel")
    (wheels / "fauxpilot-0.1.0-py3-none-any.whl").write_bytes(b"our wheel")
    lines = hashed_requirements(wheels).splitlines()
    assert lines[0].startswith("fauxpilot==0.1.0 --hash=sha256:")
    assert lines[1].startswith("numpy==2.1.0 --hash=sha256:") and len(lines) == 2
    assert "--require-hashes" in INSTALL_SH
    unpacked = tmp_path / "bundle"
    (unpacked / "models").mkdir(parents=True)
    (tmp_path / "outside.gguf").write_bytes(b"GGUF")
    manifest = {"models": [{"name": "smollm2-135m", "file": "../../outside.gguf"}]}
    (unpacked / "MANIFEST.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="refusing"):
        place_models(unpacked, tmp_path / "target")
    assert (tmp_path / "outside.gguf").exists()


class RecordingMemory:
    def __init__(self) -> None:
        self.copies: list[tuple[int, int, int]] = []

    def forget(self, seq_id: int, keep: int) -> bool:
        return True

    def copy(self, source: int, target: int, keep: int) -> bool:
        self.copies.append((source, target, keep))
        return True


def test_kv_cells_are_reused_only_within_one_cache_scope() -> None:
    memory = RecordingMemory()
    pool = SlotPool(memory, 2)
    code = list(range(100))
    first, _ = pool.take(pool.free(), code, 99, scope="key-aaaa")
    first.tokens = code
    pool.release(first)
    slot, cached = pool.take(pool.free(), [*code, 7], 100, scope="key-bbbb")
    assert cached == 0 and memory.copies == []  # another key's code is computed afresh
    slot.tokens = [*code, 7]
    pool.release(slot)
    again, cached = pool.take(pool.free(), [*code, 8], 100, scope="key-aaaa")
    assert cached == 100 and again is first


KEYED = ApiConfig(api_keys=("sk-key-aaaa-0001", "sk-key-bbbb-0002"))


def test_typeahead_serves_a_key_only_its_own_suggestions(engine: FakeEngine) -> None:
    body = {"prompt": "def f():\n    ", "suffix": "\n", "max_tokens": 16, "temperature": 0}
    typed = {**body, "prompt": "def f():\n    ret"}
    with TestClient(create_app(engine, "fake-model", config=KEYED)) as client:
        engine.queue_output("return 42\n")
        first = client.post("/v1/completions", json=body, headers=auth("sk-key-aaaa-0001"))
        assert first.json()["choices"][0]["text"].startswith("return 42")
        asked = len(engine.requests)
        engine.queue_output("rieve()")
        other = client.post("/v1/completions", json=typed, headers=auth("sk-key-bbbb-0002"))
        assert len(engine.requests) > asked  # key b's request ran the model
        assert other.json()["choices"][0]["text"] == "rieve()"
        before = len(engine.requests)
        own = client.post("/v1/completions", json=typed, headers=auth("sk-key-aaaa-0001"))
        assert own.json()["choices"][0]["text"].startswith("urn 42")
        assert len(engine.requests) == before  # served from key a's typeahead
        assert {r.cache_scope for r in engine.requests} == {
            key_label("sk-key-aaaa-0001"),
            key_label("sk-key-bbbb-0002"),
        }


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


CHEATS = {
    "prints the marker from argv": "import sys, os\nprint(sys.argv[-1])\nos._exit(0)\n",
    "reads its command line": (
        "import os\nprint(open('/proc/self/cmdline').read().replace(chr(0), chr(10)))\n"
        "os._exit(0)\n"
    ),
    "reads the marker pipe": (
        "import os\nfor fd in range(3, 64):\n    try:\n        print(os.read(fd, 64).decode())\n"
        "    except OSError:\n        pass\nos._exit(0)\n"
    ),
    "runs the exit handlers itself": "import atexit, os\natexit._run_exitfuncs()\nos._exit(0)\n",
    "searches the objects": (
        "import gc, os\nfor o in gc.get_objects():\n    print(repr(o)[:80])\nos._exit(0)\n"
    ),
    "walks the frames": (
        "import os, sys\nf = sys._getframe()\nwhile f is not None:\n"
        "    print(f.f_locals)\n    f = f.f_back\nos._exit(0)\n"
    ),
    "exits 0 in the middle": "import sys\nsys.exit(0)\nassert False\n",
}


@pytest.mark.parametrize("cheat", sorted(CHEATS))
def test_a_program_cannot_pass_without_running_to_its_end(cheat: str) -> None:
    sandbox = Sandbox.detect(Limits(timeout=10))
    result = sandbox.run(CHEATS[cheat])
    assert not result.passed, (cheat, result)
    assert sandbox.run("assert sum(range(4)) == 6\n").passed


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_unix_sockets_outside_the_sandbox_are_out_of_reach(tmp_path: Path) -> None:
    sandbox = Sandbox.detect(Limits(timeout=10))
    assert sandbox.isolation.description.startswith("bubblewrap"), sandbox.isolation
    places = [Path(tempfile.gettempdir()), Path("/run"), Path("/dev/shm"), Path.home()]
    listeners = []
    for place in places:
        if not place.is_dir():
            continue
        path = place / f"fauxpilot-test-{os.getpid()}.sock"
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(path))
        os.chmod(path, 0o777)
        listener.listen(1)
        listener.settimeout(0.5)
        listeners.append((path, listener))
    program = (
        "import socket\nreached = []\n"
        + "".join(
            f"try:\n    s = socket.socket(socket.AF_UNIX)\n    s.connect({str(path)!r})\n"
            f"    s.sendall(b'escape')\n    reached.append({str(path)!r})\nexcept OSError:\n"
            "    pass\n"
            for path, _ in listeners
        )
        + "assert not reached, reached\n"
    )
    try:
        result = sandbox.run(program)
        assert result.passed, result.error
        for _, listener in listeners:
            with pytest.raises(TimeoutError):
                listener.accept()
    finally:
        for path, listener in listeners:
            listener.close()
            path.unlink(missing_ok=True)


class ThreadRecordingTokenizer(ByteTokenizer):
    def __init__(self) -> None:
        self.threads: set[str] = set()

    def tokenize(self, text: str, *, special: bool) -> list[int]:
        self.threads.add(threading.current_thread().name)
        return super().tokenize(text, special=special)


def test_prompts_are_tokenized_off_the_event_loop(engine: FakeEngine) -> None:
    tokenizer = ThreadRecordingTokenizer()
    engine._tokenizer = tokenizer
    with TestClient(create_app(engine, "fake-model")) as client:
        loop_thread: list[str] = []

        @client.app.get("/which-thread")  # type: ignore[attr-defined, untyped-decorator]
        async def which_thread() -> dict[str, str]:
            loop_thread.append(threading.current_thread().name)
            return {}

        client.get("/which-thread")
        for path, body in (
            ("/v1/completions", {"prompt": "def f():", "suffix": "\n", "max_tokens": 2}),
            ("/completion", {"prompt": "def f():", "n_predict": 2}),
            ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
        ):
            assert client.post(path, json=body).status_code == 200, path
    assert tokenizer.threads and loop_thread[0] not in tokenizer.threads


def test_a_large_body_is_parsed_and_validated_off_the_event_loop(
    engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed_in: list[str] = []
    validated_in: list[str] = []
    real_loads, real_validate = json.loads, CompletionRequest.model_validate

    def recording_loads(text: str | bytes, **kwargs: object) -> object:
        parsed_in.append(threading.current_thread().name)
        return real_loads(text, **kwargs)  # type: ignore[arg-type]

    def recording_validate(data: object, **kwargs: object) -> CompletionRequest:
        validated_in.append(threading.current_thread().name)
        return real_validate(data, **kwargs)  # type: ignore[arg-type]

    engine.context_length = 300_000
    with TestClient(create_app(engine, "fake-model")) as client:
        loop_thread = client.portal.call(lambda: threading.current_thread().name)  # type: ignore[union-attr]
        monkeypatch.setattr(json, "loads", recording_loads)
        monkeypatch.setattr(CompletionRequest, "model_validate", recording_validate)
        ids = [65 + index % 26 for index in range(200_000)]  # about 0.8 MB of JSON
        response = client.post("/v1/completions", json={"prompt": ids, "max_tokens": 2})
        small = client.post("/v1/completions", json={"prompt": [65, 66], "max_tokens": 2})
    assert response.status_code == 200 and small.status_code == 200
    assert engine.requests[0].prompt_tokens[-5:] == ids[-5:]
    # The large body once, in a worker thread; the small one on the loop, as FastAPI does.
    assert len(parsed_in) == 2 and parsed_in[0] != loop_thread == parsed_in[1], parsed_in
    assert validated_in and loop_thread not in validated_in, validated_in
