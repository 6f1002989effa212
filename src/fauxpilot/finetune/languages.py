"""Which language a source file is written in, from its name or its shebang line."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".pyw": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".kt": "kotlin",
    ".kts": "kotlin",
    ".scala": "scala",
    ".groovy": "groovy",
    ".gradle": "groovy",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hh": "cpp",
    ".hpp": "cpp",
    ".hxx": "cpp",
    ".cs": "csharp",
    ".fs": "fsharp",
    ".fsx": "fsharp",
    ".m": "objective-c",
    ".mm": "objective-cpp",
    ".swift": "swift",
    ".rb": "ruby",
    ".php": "php",
    ".pl": "perl",
    ".pm": "perl",
    ".lua": "lua",
    ".r": "r",
    ".jl": "julia",
    ".hs": "haskell",
    ".ml": "ocaml",
    ".mli": "ocaml",
    ".ex": "elixir",
    ".exs": "elixir",
    ".erl": "erlang",
    ".clj": "clojure",
    ".cljs": "clojure",
    ".dart": "dart",
    ".zig": "zig",
    ".nim": "nim",
    ".sh": "shell",
    ".bash": "shell",
    ".zsh": "shell",
    ".ps1": "powershell",
    ".sql": "sql",
    ".html": "html",
    ".htm": "html",
    ".css": "css",
    ".scss": "scss",
    ".less": "less",
    ".vue": "vue",
    ".svelte": "svelte",
    ".md": "markdown",
    ".rst": "restructuredtext",
    ".json": "json",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".toml": "toml",
    ".xml": "xml",
    ".proto": "protobuf",
    ".tf": "terraform",
    ".nix": "nix",
    ".cmake": "cmake",
    ".mk": "makefile",
}

# Files known by their whole name, extension or not.
FILENAMES: dict[str, str] = {
    "Dockerfile": "dockerfile",
    "Containerfile": "dockerfile",
    "Makefile": "makefile",
    "GNUmakefile": "makefile",
    "CMakeLists.txt": "cmake",
    "Rakefile": "ruby",
    "Gemfile": "ruby",
    "Jenkinsfile": "groovy",
}

INTERPRETERS: dict[str, str] = {
    "python": "python",
    "pypy": "python",
    "node": "javascript",
    "nodejs": "javascript",
    "deno": "typescript",
    "sh": "shell",
    "bash": "shell",
    "dash": "shell",
    "ksh": "shell",
    "zsh": "shell",
    "ruby": "ruby",
    "perl": "perl",
    "php": "php",
    "lua": "lua",
    "Rscript": "r",
    "pwsh": "powershell",
}

# python3, python3.11, perl5: the version does not change the language.
_VERSION_SUFFIX = re.compile(r"[\d.]+$")


def known_languages() -> list[str]:
    return sorted({*EXTENSIONS.values(), *FILENAMES.values(), *INTERPRETERS.values()})


def detect_language(path: str, first_line: str) -> str | None:
    """The language of the file at `path` (posix), or None when neither name nor shebang tell."""
    name = PurePosixPath(path).name
    if name in FILENAMES:
        return FILENAMES[name]
    suffix = PurePosixPath(name).suffix.lower()
    return EXTENSIONS.get(suffix) or language_of_shebang(first_line)


def language_of_shebang(line: str) -> str | None:
    """`#!/usr/bin/env python3` -> "python"; None for anything else."""
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
    return INTERPRETERS.get(_VERSION_SUFFIX.sub("", program))
