from fauxpilot.completion.languages import rules_for
from fauxpilot.completion.stopping import DedentRule, StopRule, stop_rules
from fauxpilot.completion.types import CompletionJob


def test_language_by_editor_id_alias_or_path() -> None:
    assert rules_for("python").name == "python"
    assert rules_for("PY").name == "python"
    assert rules_for(None, "src/app/main.go").name == "go"
    assert rules_for("klingon", "notes.md").name == "markdown"
    assert rules_for(None, None).name == "unknown"


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
