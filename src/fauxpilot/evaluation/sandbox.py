"""Runs model-generated Python programs with limits, so that a bad completion cannot do harm.

Each program runs in its own process, `python -I` (isolated mode: no user site, no PYTHON*
variables, the script's folder not on sys.path), with:

- a wall-clock timeout, after which the whole process group is killed (SIGKILL);
- resource limits set in the child before it starts (sandbox_limits.py: CPU time, address
  space, file size, open files, no core files, and processes: RLIMIT_NPROC above what its
  user runs already, and a pids cgroup when it runs as root, whom RLIMIT_NPROC does not bind);
- a fresh temporary working directory, deleted afterwards, which is also its HOME and
  TMPDIR; an environment of PATH, HOME, TMPDIR and a UTF-8 locale only; stdin at EOF;
  stdout and stderr in anonymous temporary files that the file-size limit caps;
- new namespaces, from the strongest set-up that works on the machine.

`detect_isolation` tries the set-ups once, strongest first, and keeps the first whose probe
passes: it must fail to connect to a socket listening on 127.0.0.1 and, when it claims a
read-only filesystem, fail to create a file outside its working directory, have no
capabilities, and find /dev/null and /proc working. With none, `Sandbox.detect` refuses to
run anything unless the caller allows it (`--unsafe-no-sandbox`).

1. bubblewrap, when installed (sandbox_bwrap.py): every namespace new, the filesystem
   read-only but the working directory, private /tmp, /run, /dev/shm and home, so the Unix
   sockets of the machine's services are out of reach; no capabilities.
2. util-linux `unshare` as root: network, PID, mount, IPC and UTS namespaces, every mount
   read-only but the working directory (`sandbox_isolation.py`), as user `nobody` (under this
   interpreter if `nobody` may run it, else a system Python 3.8+, named in the
   description), or as root with every capability dropped for good.
3. `unshare` as another user: the same inside a user namespace, no capabilities.
4. Fallbacks sharing the filesystem: network and PID namespaces, or a network namespace only.

In every mode the bootstrap installs a seccomp filter first (sandbox_seccomp.py): no Unix
sockets, ptrace, new namespaces, mounts, kernel modules, bpf, io_uring and the like.

What it does not stop: the program reads what its user may read (root without capabilities
reads root's files) and may print it into its error, which goes into the results; the
system calls the filter allows still reach the kernel's bugs. It suits HumanEval-style code
from a model, not code written to escape.

A program passes only if it exits with status 0 after its last line ran: the bootstrap
writes a marker the program never sees only then (BOOTSTRAP in sandbox_programs.py).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
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

from fauxpilot.evaluation import sandbox_isolation
from fauxpilot.evaluation.sandbox_bwrap import bwrap_prefix, with_workdir
from fauxpilot.evaluation.sandbox_limits import (
    Limits,
    PidsCgroup,
    apply_limits,
    resource_limits,
)
from fauxpilot.evaluation.sandbox_programs import BOOTSTRAP, PROBE
from fauxpilot.evaluation.sandbox_seccomp import filter_program

log = logging.getLogger(__name__)

NOBODY = sandbox_isolation.NOBODY
_SYSTEM_PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3")
_NAMESPACES = "network, PID, mount, IPC and UTS namespaces"
_READ_ONLY = "filesystem read-only except its working directory"
Status = Literal["passed", "failed", "timeout"]

_PROGRAM_NAME = "program.py"
_FILTER = functools.cache(filter_program)  # this machine's seccomp filter, b"" if unknown


@dataclass(frozen=True)
class Isolation:
    """How programs are separated from the machine: a command prefix and its description."""

    description: str
    prefix: tuple[str, ...] = ()
    run_as: int | None = None
    interpreter: str = ""  # "" for sys.executable
    read_only: bool = False  # all but the working directory, and the program has no capabilities

    @property
    def network_isolated(self) -> bool:
        return bool(self.prefix)

    @property
    def filesystem_protected(self) -> bool:
        return self.read_only


class SandboxUnavailableError(RuntimeError):
    """No isolation works on this machine; the message says how to get one."""


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
    def detect(cls, limits: Limits | None = None, *, allow_unsafe: bool = False) -> Sandbox:
        """The strongest isolation that works here; none at all only when `allow_unsafe`."""
        limits = limits or Limits()
        isolation = detect_isolation(limits)
        if not isolation.network_isolated and not allow_unsafe:
            raise SandboxUnavailableError(
                f"refusing to run model-written code without a sandbox ({isolation.description})."
                " Fix: install util-linux's `unshare` and allow namespaces (as root, or with "
                "unprivileged user namespaces: sysctl kernel.unprivileged_userns_clone=1, or "
                "Ubuntu's kernel.apparmor_restrict_unprivileged_userns=0; in Docker, "
                "--security-opt seccomp=unconfined). To run it anyway on a machine you can "
                "lose, pass --unsafe-no-sandbox."
            )
        return cls(isolation, limits)

    def run(self, source: str) -> ExecutionResult:
        return execute(source, self.isolation, self.limits)


def candidate_isolations() -> list[Isolation]:
    """The set-ups to try, strongest first."""
    candidates = _bubblewrap_isolations()
    unshare = shutil.which("unshare")
    if unshare is None:
        return candidates
    return candidates + _unshare_isolations(unshare)


def _bubblewrap_isolations() -> list[Isolation]:
    """bubblewrap first where it is installed: it alone hides the machine's Unix sockets.

    As root, bubblewrap is started as user `nobody` (setpriv), with a system interpreter
    `nobody` may run, so root's files stay unreadable too; then as root without capabilities.
    """
    described = (
        f"bubblewrap: every namespace new; {_READ_ONLY}; private /tmp, /run, /dev/shm and home"
    )
    candidates = []
    setpriv = shutil.which("setpriv")
    system = _system_interpreter() if os.geteuid() == 0 and setpriv else None
    if setpriv is not None and system is not None:
        prefix = bwrap_prefix(system[0])
        if prefix is not None:
            as_nobody = (setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                         "--inh-caps=-all", *prefix)  # fmt: skip
            description = f"{described}; as user nobody, with {system[0]} (Python {system[1]})"
            candidates.append(Isolation(description, as_nobody, NOBODY, system[0], read_only=True))
    prefix = bwrap_prefix(sys.executable)
    if prefix is not None:
        who = "as root without capabilities" if os.geteuid() == 0 else "no capabilities"
        candidates.append(Isolation(f"{described}; {who}", prefix, read_only=True))
    return candidates


def _unshare_isolations(unshare: str) -> list[Isolation]:
    pid = ("--pid", "--fork", "--kill-child")
    mounted = (*pid, "--mount", "--mount-proc", "--ipc", "--uts", "--")
    if os.geteuid() != 0:
        user = (unshare, "--user", "--map-root-user", "--net")
        return [
            Isolation(
                f"{_NAMESPACES} in a user namespace; {_READ_ONLY}; no capabilities",
                (*user, *mounted, *_setup("nocaps")),
                read_only=True,
            ),
            Isolation("network and PID namespaces (user namespace)", (*user, *pid, "--")),
            Isolation("network namespace (user namespace)", (*user, "--")),
        ]
    return [*_read_only_as_root(unshare, mounted), *_shared_filesystem_as_root(unshare, pid)]


def _read_only_as_root(unshare: str, mounted: tuple[str, ...]) -> list[Isolation]:
    read_only = f"{_NAMESPACES}; {_READ_ONLY}"
    nobody = (unshare, "--net", *mounted, *_setup("nobody"))
    candidates = [Isolation(f"{read_only}; as user nobody", nobody, NOBODY, read_only=True)]
    system = _system_interpreter()
    if system is not None:
        path, version = system
        description = f"{read_only}; as user nobody, with {path} (Python {version})"
        candidates.append(Isolation(description, nobody, NOBODY, path, read_only=True))
    without_capabilities = (unshare, "--net", *mounted, *_setup("nocaps"))
    description = f"{read_only}; as root without capabilities (root's files readable, not writable)"
    candidates.append(Isolation(description, without_capabilities, read_only=True))
    return candidates


def _shared_filesystem_as_root(unshare: str, pid: tuple[str, ...]) -> list[Isolation]:
    nobody = ("--setuid", str(NOBODY), "--setgid", str(NOBODY))
    return [
        Isolation(
            "network and PID namespaces, as user nobody (world-writable files stay writable)",
            (unshare, "--net", *pid, *nobody, "--"),
            run_as=NOBODY,
        ),
        Isolation(
            "network and PID namespaces (as root: files stay writable)",
            (unshare, "--net", *pid, "--"),
        ),
        Isolation("network namespace (as root: files stay writable)", (unshare, "--net", "--")),
    ]


def _setup(mode: str) -> tuple[str, ...]:
    """The in-namespace set-up (sandbox_isolation.py), run by this interpreter as root."""
    return (sys.executable, "-I", "-S", sandbox_isolation.__file__, mode)


def _system_interpreter() -> tuple[str, str] | None:
    """A Python 3.8+ other than this one (which user nobody may not be able to run)."""
    ours = os.path.realpath(sys.executable)
    for path in _SYSTEM_PYTHONS:
        if not os.access(path, os.X_OK) or os.path.realpath(path) == ours:
            continue
        try:
            version = subprocess.run(
                [path, "-I", "-S", "-c", "import sys; print(*sys.version_info[:3], sep='.')"],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
                env=_child_environment(Path("/")),
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        if tuple(int(part) for part in version.split(".")[:2]) >= (3, 8):
            return path, version
    return None


def detect_isolation(limits: Limits | None = None) -> Isolation:
    """The strongest isolation that works here, proven by a probe of what it claims."""
    limits = limits or Limits()
    candidates = candidate_isolations()
    if not candidates:
        return Isolation("none: util-linux `unshare` is not installed; the network is reachable")
    reason = ""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        for candidate in candidates:
            reason = _probe(candidate, limits, port)
            if not reason:
                log.info("sandbox: %s", candidate.description)
                return candidate
            log.info("sandbox: %s does not work here: %s", candidate.description, reason)
    return Isolation(f"none: `unshare --net` failed ({reason}); the network is reachable")


def _probe(candidate: Isolation, limits: Limits, port: int) -> str:
    """Why `candidate` does not isolate as it says ("" when it does)."""
    # Not under /tmp: bubblewrap gives the program a private /tmp, where writing is harmless.
    outside = Path(sys.prefix, f"fauxpilot-probe-{secrets.token_hex(8)}")
    probe = PROBE.format(
        port=port, read_only=candidate.read_only, outside=str(outside), filtered=bool(_FILTER())
    )
    try:
        result = execute(probe, candidate, limits)
    finally:
        wrote_outside = outside.exists()
        outside.unlink(missing_ok=True)
    if wrote_outside:
        return "a file outside the working directory was written"
    return "" if result.passed else _summary(result.error) or result.status


def execute(source: str, isolation: Isolation, limits: Limits) -> ExecutionResult:
    """Run `source` as a program in a throwaway directory and judge how it ended."""
    start = time.monotonic()
    marker = secrets.token_hex(16)
    with (
        tempfile.TemporaryDirectory(prefix="fauxpilot-eval-", ignore_cleanup_errors=True) as tmp,
        tempfile.TemporaryFile() as stdout,
        tempfile.TemporaryFile() as stderr,
        contextlib.ExitStack() as stack,
    ):
        workdir = Path(tmp)
        (workdir / _PROGRAM_NAME).write_text(source, encoding="utf-8")
        if isolation.run_as is not None:
            os.chown(workdir, isolation.run_as, isolation.run_as)
        interpreter = isolation.interpreter or sys.executable
        prefix = with_workdir(isolation.prefix, workdir)
        command = [*prefix, interpreter, "-I", "-c", BOOTSTRAP, _PROGRAM_NAME]
        uid = isolation.run_as if isolation.run_as is not None else os.getuid()
        rlimits = resource_limits(limits, uid)
        cgroup = stack.enter_context(PidsCgroup.create(limits.processes)) if uid == 0 else None
        marker_read, marker_write = os.pipe()
        os.write(marker_write, marker.encode())
        os.close(marker_write)
        process = subprocess.Popen(
            [*command, str(marker_read), _FILTER().hex()],
            pass_fds=(marker_read,),
            cwd=workdir,
            env=_child_environment(workdir),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
            preexec_fn=functools.partial(apply_limits, rlimits, cgroup),
        )
        os.close(marker_read)
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
