"""What the CPU says it can do, as Linux reports it."""

from __future__ import annotations

import hashlib
import platform
from dataclasses import dataclass
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
# The features llama.cpp's CPU backend has build options for, in the order people read them.
REPORTED_FEATURES = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "bmi2", "avx_vnni", "avx512f", "avx512bw",
    "avx512vl", "avx512vbmi", "avx512_vnni", "avx512_bf16", "avx512_fp16",
    "amx_tile", "amx_int8", "amx_bf16", "asimd", "sve", "i8mm",
)  # fmt: skip
AMX_FEATURES = frozenset({"amx_tile", "amx_int8", "amx_bf16"})


@dataclass(frozen=True)
class CpuInfo:
    machine: str
    model_name: str
    flags: frozenset[str]

    @property
    def is_x86(self) -> bool:
        return self.machine in ("x86_64", "AMD64", "i686")

    @property
    def reports_amx(self) -> bool:
        return bool(self.flags & AMX_FEATURES)

    def key(self) -> str:
        """Names this kind of CPU: builds and probe results are kept per key."""
        text = "\n".join([self.machine, self.model_name, *sorted(self.flags)])
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def relevant_features(self) -> list[str]:
        return [name for name in REPORTED_FEATURES if name in self.flags]


def parse_cpuinfo(text: str, machine: str) -> CpuInfo:
    """The first processor's model name and feature flags from /proc/cpuinfo's text."""
    model_name, flags = "", ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "cpu model") and not model_name:
            model_name = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = value
    return CpuInfo(machine=machine, model_name=model_name, flags=frozenset(flags.split()))


def read_cpu() -> CpuInfo:
    try:
        text = CPUINFO.read_text(errors="replace")
    except OSError:
        text = ""
    return parse_cpuinfo(text, platform.machine())
