"""Tiny Hugging Face checkpoints made on the spot (random weights, a small trained tokenizer).

The models are random, so their greedy output is noise; what tests check is that every path
(conversion, serving) gives the same noise as transformers itself. The CodeGen model's output
bias keeps it to tokens that decode to printable ASCII, so texts compare cleanly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CORPUS = [
    "def add(a, b):\n    return a + b\n",
    "for i in range(10):\n    print(i)\n",
    "class Stack:\n    def __init__(self):\n        self.items = []\n",
    "import os\n\ndef list_files(path):\n    return os.listdir(path)\n",
] * 20
END = "<|endoftext|>"


def make_tokenizer(folder: Path, vocab_size: int = 400) -> Any:
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator(CORPUS, vocab_size=vocab_size, special_tokens=[END])
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=trainer._tokenizer, bos_token=END, eos_token=END, unk_token=END
    )
    tokenizer.save_pretrained(str(folder))
    return tokenizer


def make_tiny_codegen(folder: Path, seed: int = 0) -> tuple[Any, Any]:
    """A 2-layer CodeGen checkpoint with its tokenizer in `folder`; (model, tokenizer)."""
    import torch
    from transformers import CodeGenConfig, CodeGenForCausalLM

    tokenizer = make_tokenizer(folder)
    config = CodeGenConfig(
        vocab_size=len(tokenizer), n_positions=512, n_ctx=512, n_embd=64, n_layer=2,
        n_head=4, rotary_dim=8, bos_token_id=0, eos_token_id=0, tie_word_embeddings=False,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = CodeGenForCausalLM(config).eval()  # type: ignore[no-untyped-call]
    with torch.no_grad():
        model.lm_head.bias.copy_(_ascii_bias(tokenizer))
    model.save_pretrained(str(folder))
    return model, tokenizer


def _ascii_bias(tokenizer: Any) -> Any:
    import torch

    bias = torch.full((len(tokenizer),), -1e4)
    for token_id in range(len(tokenizer)):
        text = tokenizer.decode([token_id])
        if text and all(" " <= c <= "~" or c == "\n" for c in text) and text != END:
            bias[token_id] = 0.0
    return bias


def greedy_continuation(model: Any, tokenizer: Any, prompt: str, tokens: int) -> str:
    import torch

    ids = tokenizer(prompt)["input_ids"]
    with torch.no_grad():
        output = model.generate(
            torch.tensor([ids]), max_new_tokens=tokens, do_sample=False, pad_token_id=0
        )
    return str(tokenizer.decode(output[0, len(ids) :].tolist()))
