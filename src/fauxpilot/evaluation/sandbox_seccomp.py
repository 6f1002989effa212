"""A seccomp filter for evaluated programs: the system calls a test of a function never needs
and an escape would.

The bootstrap installs it (prctl, no new privileges first) after it has read its marker and
before the program's first line, in every isolation mode, so it holds even where there is
no bubblewrap. It refuses with EPERM: tracing and reading other processes (`ptrace`,
`process_vm_readv/writev`), Unix-domain sockets (`socket`/`socketpair` with `AF_UNIX`: the
way to the machine's services when /run or /tmp are shared), new namespaces (`unshare`,
`setns`, `clone` with a namespace flag; `clone3`, whose flags sit behind a pointer no filter
can read, answers ENOSYS so the C library falls back to `clone`), mounting, kernel modules,
`kexec`, `bpf`, `perf_event_open`, the kernel keyring, `userfaultfd` and `io_uring`.
Another architecture's calls kill the process (the filter's numbers are this one's).

The filter is classic BPF, assembled here: one word of `seccomp_data` loaded, compared,
answered. x86_64 and aarch64 are known; elsewhere there is no filter and the sandbox says so.
"""

from __future__ import annotations

import platform
import struct
from dataclasses import dataclass

# BPF instruction classes and modes (linux/bpf_common.h), combined as the kernel reads them.
_LOAD_WORD = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JUMP_EQUAL = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JUMP_AT_LEAST = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JUMP_ANY_BIT = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RETURN = 0x06  # BPF_RET | BPF_K

_ALLOW = 0x7FFF0000
_KILL_PROCESS = 0x80000000
_ERRNO = 0x00050000
_EPERM = 1
_ENOSYS = 38

# Offsets in struct seccomp_data: the call's number, the architecture, the first argument's
# low 32 bits (little-endian).
_NUMBER, _ARCH, _FIRST_ARGUMENT = 0, 4, 16
_AF_UNIX = 1
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
_NAMESPACE_FLAGS = 0x7E020000
_X32_BIT = 0x40000000

_REFUSED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "unshare", "setns", "mount",
    "umount2", "pivot_root", "chroot", "mount_setattr", "open_tree", "move_mount", "fsopen",
    "fsconfig", "fsmount", "fspick", "init_module", "finit_module", "delete_module",
    "kexec_load", "kexec_file_load", "bpf", "perf_event_open", "keyctl", "add_key",
    "request_key", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "open_by_handle_at", "swapon", "swapoff", "reboot",
)  # fmt: skip


_Instruction = tuple[int, str | None, str | None, int]


@dataclass(frozen=True)
class Architecture:
    audit_arch: int
    numbers: dict[str, int]
    x32: bool = False  # x86_64 also takes x32 calls (numbers with bit 30 set)


# The generic numbers (asm-generic/unistd.h) shared by newer calls on both architectures.
_GENERIC = {"open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
            "fsmount": 432, "fspick": 433, "clone3": 435, "mount_setattr": 442,
            "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427}  # fmt: skip

ARCHITECTURES = {
    "x86_64": Architecture(0xC000003E, {
        **_GENERIC, "socket": 41, "socketpair": 53, "clone": 56, "ptrace": 101,
        "chroot": 161, "pivot_root": 155, "mount": 165, "umount2": 166, "swapon": 167,
        "swapoff": 168, "reboot": 169, "init_module": 175, "delete_module": 176,
        "kexec_load": 246, "add_key": 248, "request_key": 249, "keyctl": 250,
        "unshare": 272, "perf_event_open": 298, "open_by_handle_at": 304, "setns": 308,
        "process_vm_readv": 310, "process_vm_writev": 311, "finit_module": 313,
        "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323}, x32=True),
    "aarch64": Architecture(0xC00000B7, {
        **_GENERIC, "socket": 198, "socketpair": 199, "clone": 220, "ptrace": 117,
        "chroot": 51, "pivot_root": 41, "mount": 40, "umount2": 39, "swapon": 224,
        "swapoff": 225, "reboot": 142, "init_module": 105, "delete_module": 106,
        "kexec_load": 104, "add_key": 217, "request_key": 218, "keyctl": 219,
        "unshare": 97, "perf_event_open": 241, "open_by_handle_at": 265, "setns": 268,
        "process_vm_readv": 270, "process_vm_writev": 271, "finit_module": 273,
        "kexec_file_load": 294, "bpf": 280, "userfaultfd": 282}),
}  # fmt: skip


def filter_program(machine: str | None = None) -> bytes:
    """The compiled filter for `machine` (this one's by default), or b"" where unknown."""
    architecture = ARCHITECTURES.get(machine or platform.machine())
    return _assemble(architecture) if architecture else b""


def _assemble(arch: Architecture) -> bytes:
    # An instruction is (code, jump-if-true label, jump-if-false label, constant), a jump to
    # None falls through; a string alone names the instruction after it.
    code: list[_Instruction | str] = [
        (_LOAD_WORD, None, None, _ARCH),
        (_JUMP_EQUAL, "number", "kill", arch.audit_arch),
        "number",
        (_LOAD_WORD, None, None, _NUMBER),
    ]
    if arch.x32:
        code.append((_JUMP_AT_LEAST, "refuse", None, _X32_BIT))
    for name in _REFUSED:
        code.append((_JUMP_EQUAL, "refuse", None, arch.numbers[name]))
    code += [
        (_JUMP_EQUAL, "no-clone3", None, arch.numbers["clone3"]),
        (_JUMP_EQUAL, "socket", None, arch.numbers["socket"]),
        (_JUMP_EQUAL, "socket", None, arch.numbers["socketpair"]),
        (_JUMP_EQUAL, "clone", "allow", arch.numbers["clone"]),
        "socket",
        (_LOAD_WORD, None, None, _FIRST_ARGUMENT),
        (_JUMP_EQUAL, "refuse", "allow", _AF_UNIX),
        "clone",
        (_LOAD_WORD, None, None, _FIRST_ARGUMENT),
        (_JUMP_ANY_BIT, "refuse", "allow", _NAMESPACE_FLAGS),
        "allow",
        (_RETURN, None, None, _ALLOW),
        "refuse",
        (_RETURN, None, None, _ERRNO | _EPERM),
        "no-clone3",
        (_RETURN, None, None, _ERRNO | _ENOSYS),
        "kill",
        (_RETURN, None, None, _KILL_PROCESS),
    ]
    return _encode(code)


def _encode(code: list[_Instruction | str]) -> bytes:
    labels: dict[str, int] = {}
    instructions: list[_Instruction] = []
    for entry in code:
        if isinstance(entry, str):
            labels[entry] = len(instructions)
        else:
            instructions.append(entry)
    words = []
    for index, (op, true, false, constant) in enumerate(instructions):
        words.append(struct.pack("<HBBI", op, _offset(labels, true, index),
                                 _offset(labels, false, index), constant))  # fmt: skip
    return b"".join(words)


def _offset(labels: dict[str, int], label: str | None, index: int) -> int:
    """How far a jump skips, counted from the instruction after `index`."""
    if label is None:
        return 0
    distance = labels[label] - index - 1
    assert 0 <= distance <= 255, "a BPF jump reaches at most 255 instructions ahead"
    return distance
