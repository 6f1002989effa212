"""llama.cpp's own Hugging Face -> GGUF converter, for tests that need a GGUF of an
architecture no PyPI package ships (StarCoder2...).

The converter is not in the llama-cpp-python wheel, only in its source distribution: that is
fetched once from PyPI by name (its SHA-256 checked against the index), for the installed
version, and its converter unpacked under the user's cache. None is available offline.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import urllib.request
from importlib.metadata import version
from pathlib import Path

from tests.fetched_tools import CACHE, download_checked

INDEX = "https://pypi.org/simple/llama-cpp-python/"
WANTED = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/")


def llama_converter() -> Path | None:
    """The path of convert_hf_to_gguf.py, or None when PyPI cannot be reached."""
    release = version("llama-cpp-python")
    folder = CACHE / f"llama.cpp-{release}"
    script = folder / "convert_hf_to_gguf.py"
    if script.is_file():
        return script
    try:
        archive = _download_sdist(release, CACHE)
    except OSError:
        return None
    _unpack_converter(archive, folder)
    archive.unlink()
    return script


def convert_to_gguf(checkpoint: Path, out: Path, script: Path, outtype: str = "f32") -> Path:
    command = [sys.executable, str(script), str(checkpoint), "--outfile", str(out),
               "--outtype", outtype]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"llama.cpp's converter failed: {done.stderr[-3000:]}")
    return out


def _download_sdist(release: str, folder: Path) -> Path:
    with urllib.request.urlopen(INDEX, timeout=30) as response:
        page = response.read().decode()
    name = f"llama_cpp_python-{release}.tar.gz"
    link = re.search(rf'href="([^"]*/{re.escape(name)})#sha256=([0-9a-f]{{64}})"', page)
    if link is None:
        raise OSError(f"{name} is not on {INDEX}")
    return download_checked(link[1], folder / name, "sha256", bytes.fromhex(link[2]), 300)


def _unpack_converter(archive: Path, folder: Path) -> None:
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)  # left by an interrupted run
    shutil.rmtree(folder, ignore_errors=True)
    with tarfile.open(archive) as sdist:
        for member in sdist.getmembers():
            inside = member.name.partition("/vendor/llama.cpp/")[2]
            if inside.startswith(WANTED) and (member.isfile() or member.isdir()):
                member.name = inside
                sdist.extract(member, partial, filter="data")
    partial.replace(folder)
