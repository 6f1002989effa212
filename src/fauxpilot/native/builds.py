"""The llama.cpp builds set-up can choose from, and the CMake flags of each.

`native` is pip's default (-march=native). It uses every feature the CPU reports, which is
wrong where a VM reports a feature it does not enable (AMX on many cloud VMs: the first
matrix multiply then dies with a general protection fault). `no-amx` names this CPU's
features explicitly with AMX left out; `portable` runs on any x86-64 CPU with AVX2.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass

from fauxpilot.native.cpu import CpuInfo

BUILD_VARIABLE = "FAUXPILOT_LLAMA_BUILD"
VARIANTS = ("native", "no-amx", "portable")

# llama.cpp CPU build options and the /proc/cpuinfo flag each needs.
_X86_OPTIONS = (
    ("GGML_SSE42", "sse4_2"), ("GGML_AVX", "avx"), ("GGML_AVX2", "avx2"),
    ("GGML_FMA", "fma"), ("GGML_F16C", "f16c"), ("GGML_BMI2", "bmi2"),
    ("GGML_AVX_VNNI", "avx_vnni"), ("GGML_AVX512", "avx512f"),
    ("GGML_AVX512_VBMI", "avx512vbmi"), ("GGML_AVX512_VNNI", "avx512_vnni"),
    ("GGML_AVX512_BF16", "avx512_bf16"),
)  # fmt: skip
_AMX_OPTIONS = ("GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16")
# Haswell-class: AVX2, FMA, F16C; the same set `fauxpilot bundle --portable` ships.
PORTABLE_X86_ARGS = (
    "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF"
)
PORTABLE_OTHER_ARGS = "-DGGML_NATIVE=OFF"


class BuildChoiceError(ValueError):
    pass


@dataclass(frozen=True)
class LlamaBuild:
    """One way of compiling llama.cpp: a name people can type and its CMake arguments."""

    variant: str  # native, no-amx, portable or custom
    cmake_args: str
    why: str

    def key(self) -> str:
        digest = hashlib.sha256(self.cmake_args.encode()).hexdigest()[:8]
        return f"{self.variant}-{digest}"


def no_amx_args(cpu: CpuInfo) -> str:
    """This CPU's own features, named one by one, with AMX off."""
    options = ["-DGGML_NATIVE=OFF"]
    for option, flag in _X86_OPTIONS:
        options.append(f"-D{option}={'ON' if flag in cpu.flags else 'OFF'}")
    options += [f"-D{option}=OFF" for option in _AMX_OPTIONS]
    return " ".join(options)


def build_named(variant: str, cpu: CpuInfo) -> LlamaBuild:
    if variant == "native":
        return LlamaBuild("native", "", "pip's default build for this CPU (-march=native)")
    if variant == "no-amx":
        if not cpu.is_x86:
            raise BuildChoiceError("the no-amx build is for x86-64 CPUs")
        return LlamaBuild("no-amx", no_amx_args(cpu), "this CPU's features without AMX")
    if variant == "portable":
        args = PORTABLE_X86_ARGS if cpu.is_x86 else PORTABLE_OTHER_ARGS
        return LlamaBuild("portable", args, "a portable build (AVX2 on x86-64)")
    raise BuildChoiceError(
        f"{BUILD_VARIABLE}={variant!r}: choose one of {', '.join(VARIANTS)} "
        "(or set CMAKE_ARGS for a build of your own)"
    )


def requested_build(environ: Mapping[str, str], cpu: CpuInfo) -> LlamaBuild | None:
    """The build the user forced, if any: FAUXPILOT_LLAMA_BUILD wins over CMAKE_ARGS."""
    variant = environ.get(BUILD_VARIABLE, "").strip()
    if variant:
        return build_named(variant, cpu)
    cmake_args = environ.get("CMAKE_ARGS", "").strip()
    if cmake_args:
        return LlamaBuild("custom", cmake_args, "your CMAKE_ARGS")
    return None


def builds_to_try(cpu: CpuInfo, environ: Mapping[str, str] | None = None) -> list[LlamaBuild]:
    """The forced build alone, or native first and then the safer fallbacks in order."""
    forced = requested_build(os.environ if environ is None else environ, cpu)
    if forced is not None:
        return [forced]
    names = VARIANTS if cpu.is_x86 else ("native", "portable")
    return [build_named(name, cpu) for name in names]
