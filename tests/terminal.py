"""Running a command on a real pseudo-terminal, as a person's shell would, to see its bars."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios


def run_on_terminal(
    command: list[str], timeout: float = 300, env: dict[str, str] | None = None
) -> tuple[int, str]:
    """The command's exit status and everything it wrote to the terminal."""
    controller, terminal = pty.openpty()
    # A terminal 120 columns wide, as a person's would be (a new pty has no size).
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(command, stdin=terminal, stdout=terminal, stderr=terminal, env=env)
    os.close(terminal)
    output = b""
    while True:
        try:
            data = os.read(controller, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        output += data
    os.close(controller)
    return process.wait(timeout=timeout), output.decode(errors="replace")


def bar_lines(shown: str, mark: str) -> list[str]:
    """The states of the bars whose line contains `mark`, in the order drawn."""
    return [line for line in shown.replace("\r", "\n").splitlines() if mark in line]
