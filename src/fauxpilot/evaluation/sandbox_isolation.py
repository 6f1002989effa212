"""The sandbox's set-up inside fresh namespaces: a read-only filesystem, then no privileges.

`sandbox.py` runs this file as a script, as root (real root, or root of a new user namespace),
right after `unshare --mount --mount-proc ...` and before the program's interpreter:

    python -I -S sandbox_isolation.py (nobody|nocaps) INTERPRETER ARGS...

Its current directory is the program's working directory. In that mount namespace (private:
nothing propagates back to the machine) it

1. bind-mounts the working directory onto itself, writable (nosuid, nodev);
2. remounts every other mount point read-only, nosuid, and nodev outside /dev (flags already
   set, e.g. noexec, are kept, as a user namespace requires), skipping only mounts that its
   path no longer reaches (covered by another mount) or that this user may not search for;
3. covers /dev with a small read-only tmpfs holding only null, zero, full, random and urandom
   (bound from the real /dev) and the fd/stdin/stdout/stderr links: no disks, no terminals;
4. drops privileges for good: `nobody` becomes user and group 65534 with no groups; `nocaps`
   keeps the user id but clears every capability set and locks the secure bits so that no
   exec gives them back (without CAP_SYS_ADMIN the mounts cannot be made writable again);
   both set no_new_privs, so set-user-ID programs do not raise privileges either;
5. execs the interpreter.

Any failure stops with exit status 126 and a message on stderr, before the program runs.
Only the standard library is used: this file runs under `-I -S`.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import sys
from collections.abc import Iterator
from typing import NoReturn

NOBODY = 65534
SETUP_FAILED = 126

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOSYMFOLLOW = 256
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
# Per-mount flags a remount must repeat (a user namespace locks them); atime flags are kept
# by the kernel when a remount names none.
_KEPT_FLAGS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "nosymfollow": MS_NOSYMFOLLOW,
}

PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
# NOROOT, NO_SETUID_FIXUP and NO_CAP_AMBIENT_RAISE set, KEEP_CAPS clear: all four locked.
_LOCKED_SECUREBITS = 0b1110_1111
_CAPABILITY_VERSION_3 = 0x20080522

# A mount whose path now leads elsewhere (EINVAL: covered by a later mount, such as the old
# /proc's under the fresh /proc) or nowhere, or that this user may not search for, is out of
# the program's reach as well: it has the same view and fewer privileges.
_UNREACHABLE = frozenset({errno.ENOENT, errno.EACCES, errno.EINVAL})

_DEVICES = ("null", "zero", "full", "random", "urandom")
_DEV_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0"}
_DEV_LINKS |= {"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]


def _encode(text: str | None) -> bytes | None:
    return None if text is None else os.fsencode(text)


def _check(result: int, what: str) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {os.strerror(number)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    result = _libc.mount(
        _encode(source), _encode(target), _encode(fstype), flags, _encode(data or None)
    )
    _check(result, f"mount {target}")


def _mount_table() -> Iterator[tuple[str, str, int]]:
    """(mount id, mount point, flags to keep) for every mount this namespace sees."""
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as table:
        for line in table:
            fields = line.split()
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4])
            flags = sum(_KEPT_FLAGS.get(option, 0) for option in fields[5].split(","))
            yield fields[0], point, flags


def make_read_only(workdir: str) -> None:
    """Everything read-only but `workdir`, which becomes a writable mount of its own."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount(workdir, workdir, None, MS_BIND)
    table = list(_mount_table())
    writable = next(mount_id for mount_id, point, _ in reversed(table) if point == workdir)
    for mount_id, point, kept in table:
        flags = MS_REMOUNT | MS_BIND | MS_NOSUID | kept
        if mount_id == writable:
            _mount(None, point, None, flags | MS_NODEV)
            continue
        if not (point == "/dev" or point.startswith("/dev/")):
            flags |= MS_NODEV
        try:
            _mount(None, point, None, flags | MS_RDONLY)
        except OSError as error:
            if error.errno not in _UNREACHABLE:
                raise


def replace_dev(staging: str) -> None:
    """Cover /dev with a read-only tmpfs of harmless devices, built on top of `staging`."""
    _mount("tmpfs", staging, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=64k")
    for name in _DEVICES:
        node = os.path.join(staging, name)
        with open(node, "x"):
            pass
        _mount(f"/dev/{name}", node, None, MS_BIND)
    for name, target in _DEV_LINKS.items():
        os.symlink(target, os.path.join(staging, name))
    _mount(None, staging, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC)
    _mount(staging, "/dev", None, MS_MOVE)


def drop_privileges(mode: str) -> None:
    if mode == "nobody":
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)
    elif mode == "nocaps":
        _check(_libc.prctl(PR_SET_SECUREBITS, _LOCKED_SECUREBITS, 0, 0, 0), "securebits")
        with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as last:
            for capability in range(int(last.read()) + 1):
                _check(_libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0), "drop capability")
        _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "ambient")
        header = (ctypes.c_uint32 * 2)(_CAPABILITY_VERSION_3, 0)
        _check(_libc.capset(header, (ctypes.c_uint32 * 6)()), "capset")
    else:
        raise ValueError(f"unknown mode {mode!r}")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def main(argv: list[str]) -> None:
    mode, command = argv[0], argv[1:]
    try:
        workdir = os.getcwd()
        make_read_only(workdir)
        replace_dev(workdir)
        os.chdir(workdir)  # the writable mount, not the directory under it
        drop_privileges(mode)
    except (OSError, ValueError, IndexError, StopIteration) as error:
        _fail(str(error))
    try:
        os.execv(command[0], command)
    except (OSError, IndexError) as error:
        _fail(f"cannot run {command[:1]}: {error}")


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"sandbox set-up failed: {message}\n")
    raise SystemExit(SETUP_FAILED)


if __name__ == "__main__":
    main(sys.argv[1:])
