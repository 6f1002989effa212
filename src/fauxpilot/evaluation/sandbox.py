"""Runs model-generated Python programs with limits, so that a bad completion cannot do harm.

Each program runs in its own process, `sys.executable -I` (isolated mode: no user site,
no PYTHON* variables, the script's folder not on sys.path), with:

- a wall-clock timeout, after which the whole process group is killed (SIGKILL);
- resource limits set in the child before it starts (RLIMIT_CPU, RLIMIT_AS, RLIMIT_FSIZE,
  RLIMIT_NOFILE, RLIMIT_CORE 0; RLIMIT_NPROC only when it runs as a dedicated user, since
  the limit counts every process of the user and root ignores it);
- a fresh temporary working directory, deleted afterwards, which is also its HOME and
  TMPDIR; an environment of PATH, HOME, TMPDIR and a UTF-8 locale only; stdin at EOF
  (/dev/null); stdout and stderr in anonymous temporary files that RLIMIT_FSIZE caps;
- when util-linux `unshare` works here: a new network namespace (only a loopback device,
  which is down: no connection to anything, including the FauxPilot server on 127.0.0.1)
  and a new PID namespace (the program cannot see or signal the server or any other process,
  and all its descendants die with it). As root it also runs as user `nobody` if that user
  can run the interpreter; as another user, inside a user namespace (`--map-root-user`).

`detect_isolation` tries these set-ups once, from the strongest, with a probe that must fail
to connect to a socket listening on 127.0.0.1, and `Isolation.description` says which one is
in force ("none: ..." when none works: then the program can reach the network).

What this is not: a container. The filesystem is shared. The program can read every file its
user can read, and write every file its user can write: its working directory is only where
it starts. When it runs as root (no `nobody` fallback, e.g. an interpreter under /root), that
is the whole machine. There is no seccomp filter and no cgroup; RLIMIT_NPROC does not bind
root, so a fork bomb is stopped only by the timeout. This is enough for HumanEval-style code
written by a model that is not trying to escape; do not run hostile code with it.

A program passes only if it exits with status 0 after running to its end: a marker written
after the program's last line must appear, so `sys.exit(0)` inside a test does not pass.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

log = logging.getLogger(__name__)

MIB = 1 << 20
GIB = 1 << 30
NOBODY = 65534
Status = Literal["passed", "failed", "timeout"]

# Runs the program as __main__, then writes the marker on the raw stdout descriptor.
_BOOTSTRAP = (
    "import os, runpy, sys\n"
    "runpy.run_path(sys.argv[1], run_name='__main__')\n"
    "sys.stdout.flush()\n"
    "os.write(1, ('\\n' + sys.argv[2] + '\\n').encode())\n"
)
_PROGRAM_NAME = "program.py"
_PROBE = """\
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
except OSError:
    pass
else:
    raise SystemExit("the network is reachable")
with open("probe.txt", "w") as probe:
    probe.write("the working directory is writable")
"""


@dataclass(frozen=True)
class Limits:
    """What one program may use."""

    timeout: float = 10.0
    memory_bytes: int = 2 * GIB
    file_size_bytes: int = 16 * MIB
    open_files: int = 256
    processes: int = 64
    tail_chars: int = 2000


@dataclass(frozen=True)
class Isolation:
    """How programs are separated from the machine: a command prefix and its description."""

    description: str
    prefix: tuple[str, ...] = ()
    run_as: int | None = None

    @property
    def network_isolated(self) -> bool:
        return bool(self.prefix)


@dataclass(frozen=True)
class ExecutionResult:
    status: Status
    error: str = ""
    seconds: float = field(default=0.0, compare=False)

    @property
    def passed(self) -> bool:
        return self.status == "passed"


class Sandbox:
    """Runs programs under one isolation and one set of limits."""

    def __init__(self, isolation: Isolation, limits: Limits | None = None) -> None:
        self.isolation = isolation
        self.limits = limits or Limits()

    @classmethod
    def detect(cls, limits: Limits | None = None) -> Sandbox:
        limits = limits or Limits()
        return cls(detect_isolation(limits), limits)

    def run(self, source: str) -> ExecutionResult:
        return execute(source, self.isolation, self.limits)


def candidate_isolations() -> list[Isolation]:
    """The set-ups to try, strongest first."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    pid = ("--pid", "--fork", "--kill-child")
    if os.geteuid() == 0:
        nobody = ("--setuid", str(NOBODY), "--setgid", str(NOBODY))
        return [
            Isolation(
                "network and PID namespaces, as user nobody",
                (unshare, "--net", *pid, *nobody, "--"),
                run_as=NOBODY,
            ),
            Isolation(
                "network and PID namespaces (as root: files stay writable)",
                (unshare, "--net", *pid, "--"),
            ),
            Isolation("network namespace (as root: files stay writable)", (unshare, "--net", "--")),
        ]
    user = (unshare, "--net", "--map-root-user")
    return [
        Isolation("network and PID namespaces (user namespace)", (*user, *pid, "--")),
        Isolation("network namespace (user namespace)", (*user, "--")),
    ]


def detect_isolation(limits: Limits | None = None) -> Isolation:
    """The strongest isolation that works here, proven by a probe that must not connect."""
    limits = limits or Limits()
    candidates = candidate_isolations()
    if not candidates:
        return Isolation("none: util-linux `unshare` is not installed; the network is reachable")
    reason = ""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        probe = _PROBE.format(port=listener.getsockname()[1])
        for candidate in candidates:
            result = execute(probe, candidate, limits)
            if result.passed:
                log.info("sandbox: %s", candidate.description)
                return candidate
            reason = _summary(result.error) or result.status
            log.info("sandbox: %s does not work here: %s", candidate.description, reason)
    return Isolation(f"none: `unshare --net` failed ({reason}); the network is reachable")


def execute(source: str, isolation: Isolation, limits: Limits) -> ExecutionResult:
    """Run `source` as a program in a throwaway directory and judge how it ended."""
    start = time.monotonic()
    marker = secrets.token_hex(16)
    with (
        tempfile.TemporaryDirectory(prefix="fauxpilot-eval-", ignore_cleanup_errors=True) as tmp,
        tempfile.TemporaryFile() as stdout,
        tempfile.TemporaryFile() as stderr,
    ):
        workdir = Path(tmp)
        (workdir / _PROGRAM_NAME).write_text(source, encoding="utf-8")
        if isolation.run_as is not None:
            os.chown(workdir, isolation.run_as, isolation.run_as)
        command = [*isolation.prefix, sys.executable, "-I", "-c", _BOOTSTRAP, _PROGRAM_NAME]
        process = subprocess.Popen(
            [*command, marker],
            cwd=workdir,
            env=_child_environment(workdir),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
            preexec_fn=functools.partial(_apply_limits, _resource_limits(limits, isolation)),
        )
        timed_out = _wait_and_kill(process, limits.timeout)
        status, error = _verdict(
            process.returncode, timed_out, _tail(stdout, limits), _tail(stderr, limits), marker
        )
    if status == "timeout":
        error = f"timed out after {limits.timeout:g} s"
    return ExecutionResult(status, error, time.monotonic() - start)


def _child_environment(workdir: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }


def _resource_limits(limits: Limits, isolation: Isolation) -> tuple[tuple[int, int, int], ...]:
    """(resource, soft, hard) triples, never above the hard limits already in force."""
    cpu_seconds = math.ceil(limits.timeout) + 1
    wanted = [
        (resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + 1),
        (resource.RLIMIT_AS, limits.memory_bytes, limits.memory_bytes),
        (resource.RLIMIT_FSIZE, limits.file_size_bytes, limits.file_size_bytes),
        (resource.RLIMIT_NOFILE, limits.open_files, limits.open_files),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    if isolation.run_as is not None:
        wanted.append((resource.RLIMIT_NPROC, limits.processes, limits.processes))
    capped = []
    for kind, soft, hard in wanted:
        current_hard = resource.getrlimit(kind)[1]
        if current_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        capped.append((kind, soft, hard))
    return tuple(capped)


def _apply_limits(limits: tuple[tuple[int, int, int], ...]) -> None:
    """Runs in the child between fork and exec: only setrlimit calls, nothing that locks."""
    for kind, soft, hard in limits:
        resource.setrlimit(kind, (soft, hard))


def _wait_and_kill(process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait up to `timeout` seconds; then kill the process group (stray children too)."""
    timed_out = False
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return timed_out


def _verdict(
    returncode: int, timed_out: bool, stdout: str, stderr: str, marker: str
) -> tuple[Status, str]:
    if timed_out or returncode in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
        return "timeout", ""
    if returncode == 0 and marker in stdout:
        return "passed", ""
    if returncode == 0:
        return "failed", _join(stderr, stdout, "the program exited before its tests finished")
    if returncode < 0:
        return "failed", _join(stderr, f"killed by {signal.Signals(-returncode).name}")
    return "failed", _join(stderr, f"exit status {returncode}")


def _tail(output: IO[bytes], limits: Limits) -> str:
    size = output.seek(0, os.SEEK_END)
    output.seek(max(0, size - 4 * limits.tail_chars))
    text = output.read().decode("utf-8", errors="replace")
    return text[-limits.tail_chars :]


def _join(*parts: str) -> str:
    return "\n".join(part.strip() for part in parts if part.strip())


def _summary(error: str) -> str:
    """The last two lines of an error, on one line."""
    return "; ".join(error.strip().splitlines()[-2:])
