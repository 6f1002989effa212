"""GGUF -> Hugging Face checkpoint through transformers' own GGUF loader
(`from_pretrained(folder, gguf_file=...)`: Llama, Mistral, Qwen2/3, Phi-3, StarCoder2, GPT-2,
Falcon, Gemma... with their SentencePiece or BPE tokenizers).

Its tokenizer is only kept when it splits text as llama.cpp does: checked at every conversion
on HumanEval's prompts and a few awkward strings, since a model fine-tuned on other token ids
than the server feeds it learns the wrong thing (transformers' SmolLM2 tokenizer splits runs
of spaces after a newline differently on 33 of the 164 prompts).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from fauxpilot.models.convert import ConversionError
from fauxpilot.progress import Steps

log = logging.getLogger(__name__)

AWKWARD_TEXTS = (
    "x = 12345 + 0.5e-3  # héllo wörld 🎉\n\tif (y!=z) { return; }",
    "   multiple   spaces\n\n\n\r\nnew line\n        deep indent\n\t\ttabs",
    "I'm sure they'll've done it; DON'T shout!!!",
)
NOT_ARCHITECTURES = {"general", "tokenizer"}
GENERIC_TOKENIZER = "PreTrainedTokenizerFast"  # reads tokenizer.json exactly as written
TRANSFORMERS_STEPS = (
    "reading the tokenizer",
    "checking it against llama.cpp",
    "dequantizing the weights",
    "writing the checkpoint",
)


class TokenizerMismatchError(ConversionError):
    """transformers' tokenizer for this GGUF splits text differently from llama.cpp."""


def transformers_reads(architecture: str) -> bool:
    """Whether the installed transformers has a GGUF loader for this architecture."""
    try:
        from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES
    except ImportError:
        return False
    return architecture in set(GGUF_SUPPORTED_ARCHITECTURES) - NOT_ARCHITECTURES


def convert_with_transformers(source: Path, work: Path) -> None:
    """Write the checkpoint into the folder `work`; refuses a tokenizer unlike llama.cpp's."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(source.parent), source.name
    with Steps("converting with transformers", TRANSFORMERS_STEPS) as steps:
        steps.begin(TRANSFORMERS_STEPS[0])
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        steps.begin(TRANSFORMERS_STEPS[1])
        texts = sample_texts()
        expected = llama_cpp_tokens(source, texts)
        differing = tokenizer_mismatches(tokenizer, texts, expected)
        if differing:
            raise TokenizerMismatchError(
                f"transformers' tokenizer for {source.name} splits {len(differing)} of "
                f"{len(texts)} sample texts differently from llama.cpp (first: "
                f"{differing[0][:60]!r})"
            )
        steps.begin(TRANSFORMERS_STEPS[2])
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
        # transformers keeps its GGUF "quantizer" on the model although the weights it loaded
        # are plain float32 (dequantized), and refuses to save such a model: let go of it.
        model.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        steps.begin(TRANSFORMERS_STEPS[3])
        model.save_pretrained(str(work), safe_serialization=True)
        tokenizer.save_pretrained(str(work))
        _check_saved_tokenizer(source, work, texts, expected)
    log.info("converted %s with transformers' GGUF loader", source.name)


def _check_saved_tokenizer(
    source: Path, work: Path, texts: Sequence[str], expected: Sequence[list[int]]
) -> None:
    """The tokenizer as fine-tuning will load it from `work` must split as llama.cpp does too.

    transformers may save it under a class that rebuilds its own pre-tokenizer on loading
    instead of reading tokenizer.json's (a StarCoder2 GGUF's comes back as `GPT2Tokenizer`,
    with GPT-2's split rule instead of the model's): then the generic class, which loads
    tokenizer.json as written, is recorded instead.
    """
    from transformers import AutoTokenizer

    if not tokenizer_mismatches(AutoTokenizer.from_pretrained(str(work)), texts, expected):
        return
    config_path = work / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    log.info("the saved %s splits text otherwise on loading; recording %s instead",
             config.get("tokenizer_class"), GENERIC_TOKENIZER)  # fmt: skip
    config["tokenizer_class"] = GENERIC_TOKENIZER
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    differing = tokenizer_mismatches(AutoTokenizer.from_pretrained(str(work)), texts, expected)
    if differing:
        raise TokenizerMismatchError(
            f"the tokenizer saved for {source.name} splits {len(differing)} of {len(texts)} "
            f"sample texts differently from llama.cpp once loaded (first: {differing[0][:60]!r})"
        )


def sample_texts() -> list[str]:
    from fauxpilot.evaluation.tasks import load_humaneval

    return [task.prompt for task in load_humaneval()] + list(AWKWARD_TEXTS)


def llama_cpp_tokens(source: Path, texts: Sequence[str]) -> list[list[int]]:
    """How llama.cpp splits each text with the GGUF's vocabulary."""
    from fauxpilot.engine.llamacpp_model import VocabOnly

    vocabulary = VocabOnly(source)
    try:
        return [vocabulary.vocab.tokenize(text, special=False) for text in texts]
    finally:
        vocabulary.close()


def tokenizer_mismatches(
    tokenizer: object, texts: Sequence[str], expected: Sequence[list[int]]
) -> list[str]:
    """The texts that `tokenizer` (a transformers tokenizer) splits otherwise than `expected`
    (llama.cpp's token ids for them)."""
    return [
        text
        for text, ids in zip(texts, expected, strict=True)
        if tokenizer(text, add_special_tokens=False)["input_ids"] != ids  # type: ignore[operator]
    ]
