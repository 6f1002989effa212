"""Engine options for tests that load a model by hand: the settings' defaults but these."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fauxpilot.config.settings import EngineSettings
from fauxpilot.engine.llamacpp_model import LlamaModel, LoadOptions
from fauxpilot.server import load_options

MAX_WAITING = EngineSettings.model_fields["max_waiting"].default
NEAR_TIE = 0.01  # log-probability margin under which float rounding may pick either token


def cpu_options(threads: int, context_per_slot: int, slots: int, batch_size: int) -> LoadOptions:
    settings = EngineSettings(
        threads=threads, context_length=context_per_slot, slots=slots, batch_size=batch_size
    )
    return load_options(settings)


def check_same_greedy_tokens(
    model: Any, tokenizer: Any, gguf: Path, prompts: Sequence[str], count: int = 12
) -> None:
    """A transformers model and llama.cpp on `gguf` tokenize alike and pick the same greedy
    tokens, but where the two best were within NEAR_TIE (the sums run in another order)."""
    import torch

    llama = LlamaModel(gguf, cpu_options(threads=2, context_per_slot=512, slots=1, batch_size=512))
    try:
        for prompt in prompts:
            ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            assert ids == llama.vocab.tokenize(prompt, special=False)
            with torch.no_grad():
                output = model.generate(
                    torch.tensor([ids]), max_new_tokens=count, do_sample=False,
                    output_scores=True, return_dict_in_generate=True,
                    pad_token_id=tokenizer.eos_token_id,
                )  # fmt: skip
            expected = output.sequences[0, len(ids) :].tolist()
            actual = llama_greedy(llama, ids, len(expected))
            if actual != expected:
                step = next(
                    i for i, (a, b) in enumerate(zip(actual, expected, strict=True)) if a != b
                )
                top = torch.topk(output.scores[step][0].log_softmax(-1), 2).values
                assert float(top[0] - top[1]) < NEAR_TIE, (prompt, actual, expected)
    finally:
        llama.close()


def llama_greedy(llama: LlamaModel, ids: list[int], count: int) -> list[int]:
    llama.forget(0, 0)
    llama.decode([(token, i, 0, i == len(ids) - 1) for i, token in enumerate(ids)])
    tokens: list[int] = []
    position = len(ids)
    for _ in range(count):
        token = int(np.argmax(np.asarray(llama.logits(0 if tokens else len(ids) - 1))))
        tokens.append(token)
        llama.decode([(token, position, 0, True)])
        position += 1
    return tokens
