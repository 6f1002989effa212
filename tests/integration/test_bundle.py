"""An offline bundle made here installs and serves with the network cut (pip --no-index)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.terminal import bar_lines, run_on_terminal

from .test_offline import _can_make_network_namespaces

pytestmark = pytest.mark.integration


@pytest.mark.skipif(
    not _can_make_network_namespaces(),
    reason="needs `unshare --net` (root or user namespaces) and iproute2's `ip`",
)
def test_a_bundle_installs_and_serves_without_network(tmp_path: Path) -> None:
    bundle = tmp_path / "fauxpilot.tar"
    # Made on a terminal, as a person would: the archive's bytes are counted on a bar.
    status, shown = run_on_terminal(
        [sys.executable, "-m", "fauxpilot", "bundle", "create", str(bundle),
         "--model", "smollm2-135m"], timeout=900,
    )  # fmt: skip
    assert status == 0, shown[-3000:]
    bars = bar_lines(shown, "B/s]")
    assert bars and "fauxpilot.tar: 100%" in bars[-1], shown[-3000:]
    with tarfile.open(bundle) as archive:
        manifest = json.load(archive.extractfile("fauxpilot-bundle/MANIFEST.json"))  # type: ignore[arg-type]
    assert any(name.startswith("llama_cpp_python-") for name in manifest["wheels"])
    assert manifest["models"][0]["name"] == "smollm2-135m"

    target = tmp_path / "installed"
    check = Path(__file__).with_name("bundle_check.py")
    script = " && ".join([
        "ip link set lo up",
        f"{shlex.quote(sys.executable)} -m fauxpilot bundle install {bundle} --target {target}",
        f"{target}/.venv/bin/python {check} {target}",
    ])  # fmt: skip
    run = subprocess.run(
        ["unshare", "--net", "--", "sh", "-c", script],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    answer = json.loads(run.stdout.strip().splitlines()[-1])
    assert answer["model"] == "smollm2-135m" and answer["text"]
