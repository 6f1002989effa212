"""The files of a source tree that .gitignore does not exclude, by git when it can."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from fauxpilot.finetune.gitignore import IgnoreFile, is_ignored, parse_gitignore

log = logging.getLogger(__name__)

GIT_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class Listing:
    paths: list[str]  # posix, relative to the top, sorted, regular files only
    method: str  # "git" or "gitignore"


def list_files(root: Path) -> Listing:
    """Regular files under `root` that are not ignored; never `.git/` nor symbolic links."""
    paths = _git_paths(root)
    if paths is not None:
        regular = sorted(path for path in set(paths) if _is_regular_file(root / path))
        if not regular:
            log.warning("git lists no files under %s: does a .gitignore exclude it?", root)
        return Listing(regular, "git")
    return Listing(sorted(_walk(root, "", ())), "gitignore")


def _git_paths(root: Path) -> list[str] | None:
    """`git ls-files` under `root`, or None when git is absent or `root` is not a work tree."""
    if shutil.which("git") is None:
        log.info("git is not installed: reading the .gitignore files under %s", root)
        return None
    inside = _run_git(root, "rev-parse", "--is-inside-work-tree")
    if inside is None or inside.strip() != "true":
        log.info("%s is not in a git work tree: reading its .gitignore files", root)
        return None
    if _run_git(root, "check-ignore", "--quiet", ".") is not None:
        # Say, a Python install under an ignored folder of a checkout: the folder was asked
        # for by name, so its own .gitignore files decide, not the checkout's.
        log.info("the git work tree around %s ignores it: reading its .gitignore files", root)
        return None
    # Tracked and untracked files, honouring every .gitignore, .git/info/exclude and the
    # user's global excludes; paths come relative to `root` and only from below it.
    listed = _run_git(root, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    if listed is None:
        return None
    return [path for path in listed.split("\0") if path]


def _run_git(root: Path, *arguments: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(root), *arguments],
            capture_output=True,
            check=False,
            timeout=GIT_TIMEOUT_SECONDS,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        log.warning("git %s failed: %s", arguments[0], error)
        return None
    if result.returncode != 0:
        log.debug("git %s: %s", arguments[0], result.stderr.decode(errors="replace").strip())
        return None
    return result.stdout.decode("utf-8", errors="surrogateescape")


def _is_regular_file(path: Path) -> bool:
    # A submodule is listed as a directory, and a link may lead out of the tree.
    return path.is_file() and not path.is_symlink()


def _walk(root: Path, directory: str, ignore_files: tuple[IgnoreFile, ...]) -> list[str]:
    """Files below `root / directory`, pruning ignored directories as git does."""
    here = root / directory
    ignore_files = ignore_files + _read_ignore_file(here, directory)
    found: list[str] = []
    try:
        entries = sorted(os.scandir(here), key=lambda entry: entry.name)
    except OSError as error:
        log.warning("cannot list %s: %s", here, error)
        return found
    for entry in entries:
        if entry.name == ".git" or entry.is_symlink():
            continue
        path = f"{directory}/{entry.name}" if directory else entry.name
        if entry.is_dir():
            if not is_ignored(path, True, ignore_files):
                found.extend(_walk(root, path, ignore_files))
        elif entry.is_file() and not is_ignored(path, False, ignore_files):
            found.append(path)
    return found


def _read_ignore_file(folder: Path, directory: str) -> tuple[IgnoreFile, ...]:
    try:
        text = (folder / ".gitignore").read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ()
    except OSError as error:
        log.warning("cannot read %s: %s", folder / ".gitignore", error)
        return ()
    return (IgnoreFile(directory, parse_gitignore(text)),)
