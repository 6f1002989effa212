import pytest

from fauxpilot.completion.context import keep_head, keep_tail, split_budget
from fauxpilot.completion.fim import (
    PromptTooLongError,
    build_fim,
    build_plain,
    fim_tokens,
)
from fauxpilot.completion.types import ContextFile
from fauxpilot.models.catalog import FAMILIES, detect_family

from .fakes import SPECIALS, ByteTokenizer

tokenizer = ByteTokenizer()


def text_of(tokens: list[int]) -> str:
    return b"".join(tokenizer.piece(token) for token in tokens).decode()


def test_fim_prompt_is_prefix_suffix_middle() -> None:
    fim = fim_tokens(tokenizer, FAMILIES["qwen2.5-coder"])
    assert fim is not None
    prompt = build_fim(tokenizer, fim, "def f():\n    ", "\nprint(f())", 1000, 16)
    expected = [
        SPECIALS["<|fim_prefix|>"],
        *tokenizer.tokenize("def f():\n    ", special=False),
        SPECIALS["<|fim_suffix|>"],
        *tokenizer.tokenize("\nprint(f())", special=False),
        SPECIALS["<|fim_middle|>"],
    ]
    assert prompt.tokens == expected
    assert not prompt.trimmed


def test_plain_family_has_no_fim_tokens() -> None:
    assert fim_tokens(tokenizer, FAMILIES["plain"]) is None


def test_user_text_cannot_inject_special_tokens_into_fim_prompts() -> None:
    fim = fim_tokens(tokenizer, FAMILIES["qwen2.5-coder"])
    assert fim is not None
    prompt = build_fim(tokenizer, fim, "x = '<|fim_middle|>'", "", 1000, 16)
    assert prompt.tokens.count(SPECIALS["<|fim_middle|>"]) == 1


def test_raw_prompts_honour_client_templated_fim() -> None:
    prompt = build_plain(tokenizer, "<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>", 100, 10)
    assert prompt.tokens[0] == SPECIALS["<|fim_prefix|>"]
    assert prompt.tokens[-1] == SPECIALS["<|fim_middle|>"]


def test_long_prompt_keeps_the_end_from_a_line_start() -> None:
    lines = [f"line {number}\n" for number in range(100)]
    prompt = "".join(lines) + "tail"
    built = build_plain(tokenizer, prompt, context_length=120, max_tokens=20)
    assert built.trimmed
    assert len(built.tokens) <= 100
    assert built.text.endswith("line 99\ntail")
    assert built.text.startswith("line ")
    assert prompt.endswith(built.text)


def test_long_suffix_keeps_whole_lines_from_the_start() -> None:
    suffix = "".join(f"after {number}\n" for number in range(50))
    fitted = keep_head(tokenizer, suffix, tokenizer.tokenize(suffix, special=False), 30)
    assert fitted.text == "after 0\nafter 1\nafter 2\n"
    assert len(fitted.tokens) <= 30


def test_keep_tail_without_newlines_cuts_mid_line() -> None:
    text = "x" * 50
    fitted = keep_tail(tokenizer, text, tokenizer.tokenize(text, special=False), 10)
    assert fitted.text == "x" * 10


def test_budget_favours_prefix_but_reserves_suffix_share() -> None:
    assert split_budget(10, 10, 100) == (10, 10)
    assert split_budget(1000, 1000, 100) == (75, 25)
    assert split_budget(10, 1000, 100) == (10, 90)
    assert split_budget(1000, 5, 100) == (95, 5)


def test_fim_prompt_fits_the_context_with_room_for_completion() -> None:
    fim = fim_tokens(tokenizer, FAMILIES["qwen2.5-coder"])
    assert fim is not None
    prefix = "".join(f"a{number} = {number}\n" for number in range(200))
    suffix = "".join(f"b{number} = {number}\n" for number in range(200))
    built = build_fim(tokenizer, fim, prefix, suffix, context_length=256, max_tokens=56)
    assert len(built.tokens) <= 200
    assert built.trimmed
    assert text_of(built.tokens).startswith("a")  # prefix kept from a line start
    assert prefix.endswith(built.text)


def test_max_tokens_filling_the_context_is_an_error_with_numbers() -> None:
    with pytest.raises(PromptTooLongError, match="context is 100 tokens"):
        build_plain(tokenizer, "hello", context_length=100, max_tokens=100)


def test_family_detection_reads_the_vocabulary() -> None:
    assert detect_family(tokenizer.special_token_id).name == "qwen2.5-coder"
    assert detect_family(lambda text: None).name == "plain"


def test_repository_context_goes_first_nearest_file_last() -> None:
    fim = fim_tokens(tokenizer, FAMILIES["qwen2.5-coder"])
    assert fim is not None and fim.file_separator == SPECIALS["<|file_sep|>"]
    files = [ContextFile("far.py", "FAR = 1\n"), ContextFile("near.py", "NEAR = 2\n")]
    built = build_fim(tokenizer, fim, "x = ", "\n", 1000, 16, context_files=files)
    separators = [i for i, t in enumerate(built.tokens) if t == SPECIALS["<|file_sep|>"]]
    assert len(separators) == 2
    prefix_at = built.tokens.index(SPECIALS["<|fim_prefix|>"])
    assert text_of(built.tokens[separators[0] + 1 : separators[1]]) == "far.py\nFAR = 1\n"
    assert text_of(built.tokens[separators[1] + 1 : prefix_at]) == "near.py\nNEAR = 2\n"


def test_repository_context_keeps_to_its_share_cutting_at_lines() -> None:
    fim = fim_tokens(tokenizer, FAMILIES["qwen2.5-coder"])
    assert fim is not None
    big = "".join(f"line_{number} = {number}\n" for number in range(200))
    files = [ContextFile("big.py", big), ContextFile("near.py", "NEAR = 2\n")]
    built = build_fim(tokenizer, fim, "x = ", "\n", 300, 16, context_files=files)
    prefix_at = built.tokens.index(SPECIALS["<|fim_prefix|>"])
    context = text_of(built.tokens[:prefix_at])
    assert prefix_at <= int((300 - 16 - 3) * 0.3)
    assert context.endswith("near.py\nNEAR = 2\n")
    assert context.startswith("big.py\nline_0 = 0\n")
    assert "\nline_" in context and context.split("near.py")[0].endswith("\n")


def test_an_empty_prompt_starts_a_new_document() -> None:
    built = build_plain(tokenizer, "", 100, 10)
    assert built.tokens == [SPECIALS["<|endoftext|>"]]
