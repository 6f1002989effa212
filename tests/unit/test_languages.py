from fauxpilot.completion.languages import rules_for
from fauxpilot.completion.stopping import DedentRule, StopRule, stop_rules
from fauxpilot.completion.types import CompletionJob
from fauxpilot.finetune.languages import detect_language
from fauxpilot.languages import LANGUAGES


def test_language_by_editor_id_alias_or_path() -> None:
    assert rules_for("python").id == "python"
    assert rules_for("PY").id == "python"
    assert rules_for(None, "src/app/main.go").id == "go"
    assert rules_for("klingon", "notes.md").id == "markdown"
    assert rules_for(None, None).id == "unknown"


def job(prompt: str, stop: tuple[str, ...], language: str | None) -> CompletionJob:
    return CompletionJob("r", [prompt], 64, suffix="\nrest()\n", stop=stop, language=language)


def test_multi_line_python_fim_ends_at_the_next_definition() -> None:
    rules = stop_rules(job("def f():\n    x", (), "python"))
    assert StopRule("\ndef ", keep=1) in rules
    assert DedentRule("    x") in rules
    single_line = stop_rules(job("def f():\n    x", ("\n",), "python"))
    assert StopRule("\ndef ", keep=1) not in single_line


def test_markdown_has_no_dedent_stop() -> None:
    rules = stop_rules(job("- item\n  more", (), "markdown"))
    assert not any(isinstance(rule, DedentRule) for rule in rules)


def test_completion_and_fine_tuning_name_a_file_the_same_vs_code_id() -> None:
    for path in ("run.sh", "a/b.tsx", "x.py", "Dockerfile", "lib.rs", "notes.md"):
        assert rules_for(None, path).id == detect_language(path, "")
    assert detect_language("tool", "#!/usr/bin/env bash") == "shellscript"
    assert rules_for("shell").id == rules_for("shellscript").id == "shellscript"
    assert rules_for("bash").id == "shellscript"
    assert rules_for("typescriptreact").stop_words == rules_for("typescript").stop_words


def test_every_alias_names_one_language_only() -> None:
    names = [name.lower() for language in LANGUAGES for name in (language.id, *language.aliases)]
    assert len(names) == len(set(names))
    extensions = [suffix for language in LANGUAGES for suffix in language.extensions]
    assert len(extensions) == len(set(extensions))
