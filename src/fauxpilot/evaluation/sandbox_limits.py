"""What one sandboxed program may use: resource limits, and a pids cgroup for root.

RLIMIT_NPROC never applies to root in the machine's first user namespace, so a program run
as root (with or without capabilities) gets its processes counted by a cgroup of its own
where one can be made (cgroup v1's or v2's pids controller).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import resource
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MIB = 1 << 20
GIB = 1 << 30
_CGROUP_ROOTS = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup"))


@dataclass(frozen=True)
class Limits:
    """What one program may use."""

    timeout: float = 10.0
    memory_bytes: int = 2 * GIB
    file_size_bytes: int = 16 * MIB
    open_files: int = 256
    processes: int = 64
    tail_chars: int = 2000


def resource_limits(limits: Limits, uid: int) -> tuple[tuple[int, int, int], ...]:
    """(resource, soft, hard) triples, never above the hard limits already in force."""
    cpu_seconds = math.ceil(limits.timeout) + 1
    # RLIMIT_NPROC counts every process of the user: the program may add `processes`.
    processes = processes_of(uid) + limits.processes
    wanted = [
        (resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + 1),
        (resource.RLIMIT_AS, limits.memory_bytes, limits.memory_bytes),
        (resource.RLIMIT_FSIZE, limits.file_size_bytes, limits.file_size_bytes),
        (resource.RLIMIT_NOFILE, limits.open_files, limits.open_files),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_NPROC, processes, processes),
    ]
    capped = []
    for kind, soft, hard in wanted:
        current_hard = resource.getrlimit(kind)[1]
        if current_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        capped.append((kind, soft, hard))
    return tuple(capped)


def processes_of(uid: int) -> int:
    """How many tasks `uid` runs now (threads count, as the kernel counts them)."""
    count = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines())
        except (OSError, ValueError):
            continue
        if int(fields.get("Uid", "-1").split()[0]) == uid:
            count += int(fields.get("Threads", "1").strip())
    return count


@dataclass(frozen=True)
class PidsCgroup:
    """A cgroup whose pids.max bounds the program and everything it starts."""

    path: Path

    @classmethod
    @contextlib.contextmanager
    def create(cls, max_processes: int) -> Iterator[PidsCgroup | None]:
        group = _make_group(max_processes)
        try:
            yield group
        finally:
            if group is not None:
                _remove_group(group.path)

    def procs_file(self) -> str:
        return str(self.path / "cgroup.procs")


def _make_group(max_processes: int) -> PidsCgroup | None:
    for root in _CGROUP_ROOTS:
        if not _has_pids_controller(root):
            continue
        path = root / f"fauxpilot-sandbox-{secrets.token_hex(6)}"
        try:
            path.mkdir()
            (path / "pids.max").write_text(f"{max_processes}\n")
        except OSError as error:
            log.debug("no pids cgroup under %s: %s", root, error)
            with contextlib.suppress(OSError):
                path.rmdir()
            continue
        return PidsCgroup(path)
    return None


def _has_pids_controller(root: Path) -> bool:
    """cgroup v1's pids hierarchy, or a v2 root that hands the pids controller down."""
    if root.name == "pids":
        return (root / "cgroup.procs").exists()
    try:
        return "pids" in (root / "cgroup.subtree_control").read_text().split()
    except OSError:
        return False


def _remove_group(path: Path) -> None:
    for _ in range(50):  # the last processes may take a moment to be reaped
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)
    log.warning("could not remove the sandbox cgroup %s", path)


def apply_limits(limits: tuple[tuple[int, int, int], ...], cgroup: PidsCgroup | None) -> None:
    """Runs in the child between fork and exec: only system calls, nothing that locks."""
    if cgroup is not None:
        descriptor = os.open(cgroup.procs_file(), os.O_WRONLY)
        try:
            os.write(descriptor, str(os.getpid()).encode())
        finally:
            os.close(descriptor)
    for kind, soft, hard in limits:
        resource.setrlimit(kind, (soft, hard))
