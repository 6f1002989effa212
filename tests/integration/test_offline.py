"""The offline guarantee: the server starts and serves with networking blocked, and never tries."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def _can_make_network_namespaces() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(
    not _can_make_network_namespaces(),
    reason="needs `unshare --net` (root or user namespaces) and iproute2's `ip`",
)
def test_server_serves_in_a_namespace_without_network(tmp_path: Path) -> None:
    driver = Path(__file__).with_name("offline_driver.py")
    run = subprocess.run(
        ["unshare", "--net", "--", sys.executable, str(driver), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["completion"] and report["streamed_chunks"] > 0
    assert report["network_attempts"] == []
