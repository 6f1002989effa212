"""The one table of languages: VS Code's language ids (what editors send), the file names and
shebangs that tell a file's language, and where a multi-line suggestion should end.

Completion reads `stop_words` (the start of the next top-level definition) and `dedent_stop`
(leaving the cursor's block ends a suggestion); fine-tuning reads the names and shebangs to
label the files of a repository. Both speak the same ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass(frozen=True)
class Language:
    id: str  # VS Code's language identifier
    extensions: tuple[str, ...] = ()
    filenames: tuple[str, ...] = ()  # files known by their whole name
    interpreters: tuple[str, ...] = ()  # programs a shebang line names
    aliases: tuple[str, ...] = ()  # other names clients send (Tabby, JetBrains, people)
    stop_words: tuple[str, ...] = ()
    dedent_stop: bool = True


_JS_STOPS = ("\nfunction ", "\nexport ")
_TS_STOPS = ("\nfunction ", "\nexport ", "\ninterface ")

# Markdown, reStructuredText and plain text have dedent_stop off: their indentation is not
# structure.
LANGUAGES: tuple[Language, ...] = (
    Language(
        "python",
        (".py", ".pyi", ".pyw"),
        interpreters=("python", "pypy"),
        aliases=("py", "python3"),
        stop_words=("\ndef ", "\nclass ", "\nif __name__", "\n@"),
    ),
    Language(
        "javascript",
        (".js", ".mjs", ".cjs"),
        interpreters=("node", "nodejs"),
        aliases=("js", "node"),
        stop_words=_JS_STOPS,
    ),
    Language("javascriptreact", (".jsx",), aliases=("jsx",), stop_words=_JS_STOPS),
    Language(
        "typescript",
        (".ts", ".mts", ".cts"),
        interpreters=("deno",),
        aliases=("ts",),
        stop_words=_TS_STOPS,
    ),
    Language("typescriptreact", (".tsx",), aliases=("tsx",), stop_words=_TS_STOPS),
    Language("go", (".go",), aliases=("golang",), stop_words=("\nfunc ", "\ntype ")),
    Language(
        "rust", (".rs",), aliases=("rs",), stop_words=("\nfn ", "\npub fn ", "\nimpl ", "\nstruct ")
    ),
    Language("java", (".java",), stop_words=("\npublic class ", "\nclass ")),
    Language("kotlin", (".kt", ".kts"), aliases=("kt",)),
    Language("scala", (".scala",)),
    Language("groovy", (".groovy", ".gradle"), filenames=("Jenkinsfile",)),
    Language("c", (".c", ".h")),
    Language("cpp", (".cc", ".cpp", ".cxx", ".hh", ".hpp", ".hxx"), aliases=("c++", "cxx")),
    Language("csharp", (".cs",), aliases=("c#", "cs")),
    Language("fsharp", (".fs", ".fsx"), aliases=("f#",)),
    Language("objective-c", (".m",), aliases=("objc", "objectivec")),
    Language("objective-cpp", (".mm",), aliases=("objcpp",)),
    Language("swift", (".swift",)),
    Language(
        "ruby",
        (".rb",),
        filenames=("Rakefile", "Gemfile"),
        interpreters=("ruby",),
        aliases=("rb",),
        stop_words=("\ndef ", "\nclass ", "\nmodule "),
    ),
    Language("php", (".php",), interpreters=("php",)),
    Language("perl", (".pl", ".pm"), interpreters=("perl",)),
    Language("lua", (".lua",), interpreters=("lua",)),
    Language("r", (".r",), interpreters=("Rscript",)),
    Language("julia", (".jl",)),
    Language("haskell", (".hs",)),
    Language("ocaml", (".ml", ".mli")),
    Language("elixir", (".ex", ".exs")),
    Language("erlang", (".erl",)),
    Language("clojure", (".clj", ".cljs")),
    Language("dart", (".dart",)),
    Language("zig", (".zig",)),
    Language("nim", (".nim",)),
    Language(
        "shellscript",
        (".sh", ".bash", ".zsh"),
        interpreters=("sh", "bash", "dash", "ksh", "zsh"),
        aliases=("shell", "sh", "bash", "zsh"),
    ),
    Language("powershell", (".ps1",), interpreters=("pwsh",), aliases=("ps1",)),
    Language("sql", (".sql",)),
    Language("html", (".html", ".htm")),
    Language("css", (".css",)),
    Language("scss", (".scss",)),
    Language("less", (".less",)),
    Language("vue", (".vue",)),
    Language("svelte", (".svelte",)),
    Language("markdown", (".md",), aliases=("md",), dedent_stop=False),
    Language("restructuredtext", (".rst",), aliases=("rst",), dedent_stop=False),
    Language("json", (".json",)),
    Language("yaml", (".yaml", ".yml"), aliases=("yml",)),
    Language("toml", (".toml",)),
    Language("xml", (".xml",)),
    Language("proto", (".proto",), aliases=("protobuf", "proto3")),
    Language("terraform", (".tf",), aliases=("hcl",)),
    Language("nix", (".nix",)),
    Language("cmake", (".cmake",), filenames=("CMakeLists.txt",)),
    Language("makefile", (".mk",), filenames=("Makefile", "GNUmakefile"), aliases=("make",)),
    Language("dockerfile", filenames=("Dockerfile", "Containerfile"), aliases=("docker",)),
    Language("plaintext", (".txt",), aliases=("text", "txt"), dedent_stop=False),
)

_BY_NAME: dict[str, Language] = {
    name.lower(): language for language in LANGUAGES for name in (language.id, *language.aliases)
}
_BY_EXTENSION = {suffix: language for language in LANGUAGES for suffix in language.extensions}
_BY_FILENAME = {name: language for language in LANGUAGES for name in language.filenames}
_BY_INTERPRETER = {name: language for language in LANGUAGES for name in language.interpreters}
# python3, python3.11, perl5: the version does not change the language.
_VERSION_SUFFIX = re.compile(r"[\d.]+$")


def known_language_ids() -> list[str]:
    return sorted(language.id for language in LANGUAGES)


def language_named(name: str | None) -> Language | None:
    """The language an editor's id or a common alias names (any case), or None."""
    return _BY_NAME.get(name.strip().lower()) if name else None


def language_of_file(path: str, first_line: str = "") -> Language | None:
    """The language of the file at `path` (posix) by its name, else its shebang line."""
    name = PurePosixPath(path).name
    if name in _BY_FILENAME:
        return _BY_FILENAME[name]
    suffix = PurePosixPath(name).suffix.lower()
    return _BY_EXTENSION.get(suffix) or language_of_shebang(first_line)


def language_of_shebang(line: str) -> Language | None:
    """`#!/usr/bin/env python3` -> python; None for anything else."""
    if not line.startswith("#!"):
        return None
    words = line[2:].split()
    if not words:
        return None
    program = PurePosixPath(words[0]).name
    if program == "env":
        # `env -S python3 -u`: the interpreter is the first word that is not an option.
        program = next((word for word in words[1:] if not word.startswith("-")), "")
        program = PurePosixPath(program).name
    return _BY_INTERPRETER.get(_VERSION_SUFFIX.sub("", program))
