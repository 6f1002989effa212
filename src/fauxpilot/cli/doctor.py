"""`fauxpilot doctor`: what a bug report needs, and whether this machine can serve.

Each check prints one line; a failed one says how to fix it, and the exit status is 1 when
any failed. The test decode runs in a child process, so a build that crashes here is a
finding, not the end of the command.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fauxpilot.cli.args import add_settings_flags, settings_from
from fauxpilot.config.settings import Settings
from fauxpilot.models.catalog import CATALOG
from fauxpilot.models.resolve import resolve_model
from fauxpilot.models.store import ModelFileError, ModelStore
from fauxpilot.native.cpu import read_cpu
from fauxpilot.native.probe import ProbeResult, run_probe
from fauxpilot.native.wheels import read_record
from fauxpilot.server import check_exposure

log = logging.getLogger(__name__)

# Besides the model file and the KV cache: compute buffers, Python, the HTTP server.
OVERHEAD_BYTES = 400 * 1024 * 1024


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    text: str
    fix: str = ""


def cpu_finding() -> Finding:
    cpu = read_cpu()
    features = " ".join(cpu.relevant_features()) or "none of the ones llama.cpp builds for"
    amx = "; reports AMX (a VM may not enable it)" if cpu.reports_amx else ""
    return Finding("cpu", True, f"{cpu.model_name or cpu.machine}: {features}{amx}")


def build_finding() -> Finding:
    record = read_record(Path(sys.prefix))
    if record is None:
        return Finding(
            "llama.cpp build", True, "not installed by scripts/setup.sh (no record in the venv)"
        )
    args = record.cmake_args or "-march=native"
    amx = (
        "AMX off"
        if "GGML_AMX_INT8=OFF" in args or record.variant == "portable"
        else "AMX as the CPU reports"
    )
    text = f"{record.variant} ({amx}; CMake: {args})"
    if record.fallback_reason:
        text += f"; chosen because {record.fallback_reason}"
    if record.cpu_key != read_cpu().key():
        return Finding(
            "llama.cpp build", False, text + "; built for another CPU",
            "run ./scripts/setup.sh again: it builds and tests llama.cpp for this CPU",
        )  # fmt: skip
    return Finding("llama.cpp build", True, text)


def model_findings(store: ModelStore) -> Iterator[Finding]:
    installed = [entry for entry in CATALOG if store.state(entry).exists]
    if not installed:
        yield Finding("models", True, f"none installed in {store.models_dir}")
    for entry in installed:
        try:
            store.verify(entry, force_hash=True)
        except ModelFileError as error:
            yield Finding(f"model {entry.name}", False, "hash does not verify", str(error))
        else:
            yield Finding(f"model {entry.name}", True, "SHA-256 verified")


def compiled_features(system_info: str) -> list[str]:
    """The CPU features a llama.cpp build uses, from its system-info line (`AVX2 = 1 | ...`)."""
    names = []
    for part in system_info.replace("CPU :", "|").split("|"):
        name, _, value = part.partition("=")
        if value.strip() == "1":
            names.append(name.strip())
    return names


def decode_finding(result: ProbeResult, model_name: str) -> Finding:
    if result.ok:
        features = compiled_features(result.system_info)
        amx = "AMX in use" if any(name.startswith("AMX") for name in features) else "no AMX"
        return Finding(
            "test decode",
            True,
            f"{model_name}: prompt {result.prompt_tokens_per_second:.1f} tokens/s, "
            f"decode {result.decode_tokens_per_second:.1f} tokens/s; built for "
            f"{' '.join(features) or 'no SIMD'} ({amx})",
        )
    fix = (
        "run ./scripts/setup.sh again (it tests each build and installs one that runs here), "
        "or FAUXPILOT_LLAMA_BUILD=no-amx (or portable) ./scripts/setup.sh"
        if result.crashed
        else "see the error above"
    )
    return Finding("test decode", False, f"{model_name}: {result.cause}", fix)


def available_memory() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == "MemAvailable":
            return int(value.split()[0]) * 1024
    return 0


def memory_finding(settings: Settings, model_bytes: int, kv_bytes_per_token: int) -> Finding:
    kv = kv_bytes_per_token * settings.context_length * settings.slots
    needed = model_bytes + kv + OVERHEAD_BYTES
    free = available_memory()
    text = (
        f"{free / 2**30:.1f} GiB available; needs about {needed / 2**30:.1f} GiB "
        f"(model {model_bytes / 2**30:.2f}, KV cache {kv / 2**30:.2f} for {settings.slots} "
        f"slots of {settings.context_length} tokens)"
    )
    if free and needed > free:
        return Finding("memory", False, text, "lower --slots or --context-length")
    return Finding("memory", True, text)


def exposure_finding(settings: Settings) -> Finding:
    keys = settings.api_keys()
    text = f"listen on {settings.host}:{settings.port}, API keys: {len(keys) or 'off'}"
    try:
        check_exposure(settings.host, keys, settings.insecure)
    except ValueError as error:
        return Finding("address", False, text + " would be refused", str(error))
    return Finding("address", True, text)


def run_doctor(settings: Settings) -> list[Finding]:
    findings = [cpu_finding(), build_finding(), *model_findings(ModelStore(settings.home))]
    findings.append(exposure_finding(settings))
    try:
        model = resolve_model(settings.model, ModelStore(settings.home), pull_missing=False)
    except (ModelFileError, LookupError, ValueError, OSError) as error:
        findings.append(Finding("model", False, str(error), "`fauxpilot models pull NAME`"))
        return findings
    if model.kind != "gguf":
        return findings
    result = run_probe(model.path, tokens=16, threads=settings.threads)
    findings.append(decode_finding(result, model.name))
    if result.ok:
        findings.append(
            memory_finding(settings, model.path.stat().st_size, result.kv_bytes_per_token)
        )
    return findings


def print_findings(findings: list[Finding]) -> None:
    for finding in findings:
        mark = "ok  " if finding.ok else "FAIL"
        sys.stdout.write(f"{mark} {finding.name}: {finding.text}\n")
        if not finding.ok and finding.fix:
            sys.stdout.write(f"     fix: {finding.fix}\n")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = commands.add_parser(
        "doctor", help="check the CPU, the llama.cpp build, models, memory and the address"
    )
    add_settings_flags(doctor)
    doctor.set_defaults(handler=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    findings = run_doctor(settings_from(args))
    print_findings(findings)
    return 0 if all(finding.ok for finding in findings) else 1
