"""bubblewrap (Debian's `bwrap`), the strongest isolation the evaluation sandbox uses.

Every namespace is new (network, PID, IPC, UTS, mount, user); the filesystem is read-only
but for the program's working directory; /tmp, /run, /dev/shm and the home directory are
empty private tmpfs, so the Unix sockets of the machine's services (tmux, D-Bus, systemd,
ssh-agent, X11, docker.sock under /run) are not there to connect to, and the new network
namespace hides abstract sockets. No capabilities; the process dies with its parent.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

# Replaced by the program's working directory in each run's command.
WORKDIR = "{workdir}"
PRIVATE_DIRS = ("/tmp", "/run", "/dev/shm", "/var/tmp")


def bwrap_prefix(interpreter: str) -> tuple[str, ...] | None:
    """The command prefix, or None without bwrap. The program keeps its user (root without
    capabilities reads root's files but can change none outside its working directory)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return None
    prefix = [bwrap, "--unshare-all", "--die-with-parent", "--new-session",
              "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]  # fmt: skip
    for folder in PRIVATE_DIRS:
        if os.path.isdir(folder) and not os.path.islink(folder):
            prefix += ["--tmpfs", folder]
    home = os.path.expanduser("~")
    if home not in ("/", "") and os.path.isdir(home):
        prefix += ["--tmpfs", home]
        # The interpreter and its libraries may live in the home directory (pyenv, a venv).
        for needed in _interpreter_dirs(interpreter):
            if needed.startswith(home.rstrip("/") + "/"):
                prefix += ["--ro-bind", needed, needed]
    prefix += ["--bind", WORKDIR, WORKDIR, "--chdir", WORKDIR, "--cap-drop", "ALL", "--"]
    return tuple(prefix)


def _interpreter_dirs(interpreter: str) -> list[str]:
    folders = {str(Path(interpreter).resolve().parent.parent)}
    if interpreter == sys.executable:  # this venv and the Python it was made from
        folders |= {sys.prefix, sys.base_prefix}
    return sorted(folder for folder in folders if os.path.isdir(folder))


def with_workdir(prefix: tuple[str, ...], workdir: Path) -> list[str]:
    return [str(workdir) if part == WORKDIR else part for part in prefix]
