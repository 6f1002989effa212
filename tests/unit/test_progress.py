"""Progress bars: drawn on a terminal (a real pseudo-terminal here), absent in a pipe."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

BAR_MARK = "file/s]"  # tqdm's rate with the unit `file`


def _tree(root: Path) -> Path:
    root.mkdir()
    for index in range(12):
        (root / f"module_{index}.py").write_text(f"def f{index}(x):\n    return x + {index}\n")
    return root


def _dataset_command(root: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "fauxpilot", "finetune", "dataset", str(root), "-o", str(out)]


def _run_on_terminal(command: list[str]) -> tuple[int, str]:
    controller, terminal = pty.openpty()
    # A terminal 120 columns wide, as a person's would be (a new pty has no size).
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(command, stdin=terminal, stdout=terminal, stderr=terminal)
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
    return process.wait(timeout=120), output.decode(errors="replace")


def test_dataset_building_draws_a_bar_on_a_terminal_only(tmp_path: Path) -> None:
    root = _tree(tmp_path / "src")
    status, shown = _run_on_terminal(_dataset_command(root, tmp_path / "tty.jsonl"))
    assert status == 0, shown
    bars = [line for line in shown.replace("\r", "\n").splitlines() if BAR_MARK in line]
    assert bars and "reading files: 100%" in bars[-1] and "12/12" in bars[-1]

    piped = subprocess.run(
        _dataset_command(root, tmp_path / "pipe.jsonl"), capture_output=True, text=True
    )
    assert piped.returncode == 0, piped.stderr
    assert BAR_MARK not in piped.stderr + piped.stdout
    assert "kept:" in piped.stdout
