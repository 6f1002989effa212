"""Per-language completion defaults, as data: where a multi-line suggestion should end.

`stop_words` end a suggestion at the start of the next top-level definition; `dedent_stop`
says whether leaving the cursor's block (a less indented line) ends it. Editors name the
language (`extra.language` from the Copilot plugins, Tabby's `language`) or a file path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass(frozen=True)
class LanguageRules:
    name: str
    extensions: tuple[str, ...]
    stop_words: tuple[str, ...] = ()
    dedent_stop: bool = True


LANGUAGES: tuple[LanguageRules, ...] = (
    LanguageRules("python", (".py", ".pyi"), ("\ndef ", "\nclass ", "\nif __name__", "\n@")),
    LanguageRules("javascript", (".js", ".jsx", ".mjs", ".cjs"), ("\nfunction ", "\nexport ")),
    LanguageRules("typescript", (".ts", ".tsx"), ("\nfunction ", "\nexport ", "\ninterface ")),
    LanguageRules("go", (".go",), ("\nfunc ", "\ntype ")),
    LanguageRules("rust", (".rs",), ("\nfn ", "\npub fn ", "\nimpl ", "\nstruct ")),
    LanguageRules("java", (".java",), ("\npublic class ", "\nclass ")),
    LanguageRules("c", (".c", ".h"), ()),
    LanguageRules("cpp", (".cc", ".cpp", ".cxx", ".hpp", ".hh"), ()),
    LanguageRules("ruby", (".rb",), ("\ndef ", "\nclass ", "\nmodule ")),
    LanguageRules("shellscript", (".sh", ".bash"), ()),
    # Indentation is not structure in Markdown or plain text: no dedent stop.
    LanguageRules("markdown", (".md",), (), dedent_stop=False),
    LanguageRules("plaintext", (".txt",), (), dedent_stop=False),
)

_ALIASES = {
    "py": "python",
    "js": "javascript",
    "ts": "typescript",
    "c++": "cpp",
    "sh": "shellscript",
}

DEFAULT_RULES = LanguageRules("unknown", (), ())


def rules_for(language: str | None = None, path: str | None = None) -> LanguageRules:
    """The rules for a language id (editor's name) or, failing that, a file's extension."""
    if language:
        name = _ALIASES.get(language.lower(), language.lower())
        for rules in LANGUAGES:
            if rules.name == name:
                return rules
    if path:
        suffix = PurePosixPath(path).suffix.lower()
        for rules in LANGUAGES:
            if suffix in rules.extensions:
                return rules
    return DEFAULT_RULES
