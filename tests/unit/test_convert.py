"""CodeGen -> GPT-J on a tiny random CodeGen: the converted model computes the same logits."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from fauxpilot.models.convert import convert_codegen_to_gptj, split_codegen_qkv  # noqa: E402

# float32 on the CPU; the two models add the same numbers in a different order.
LOGIT_TOLERANCE = 1e-4


def _tiny_codegen(folder: Path) -> object:
    torch.manual_seed(0)
    config = transformers.CodeGenConfig(
        vocab_size=96, n_positions=64, n_ctx=64, n_embd=64, n_layer=2, n_head=8,
        rotary_dim=4, n_inner=None, bos_token_id=0, eos_token_id=1,
    )  # fmt: skip
    model = transformers.CodeGenForCausalLM(config).eval()
    model.save_pretrained(folder)
    return model


def test_qkv_split_takes_cogens_q_v_k_slices() -> None:
    embed = 8
    local = embed // 4
    rows = torch.arange(3 * embed).repeat_interleave(embed).reshape(3 * embed, embed)
    query, key, value = split_codegen_qkv(rows, embed)
    # Slice p of the fused weight holds rows [q_p | v_p | k_p], each `local` rows long.
    assert query[:, 0].tolist() == [0, 1, 6, 7, 12, 13, 18, 19]
    assert value[:, 0].tolist() == [2, 3, 8, 9, 14, 15, 20, 21]
    assert key[:, 0].tolist() == [4, 5, 10, 11, 16, 17, 22, 23]
    assert local == 2


def test_converted_gptj_gives_the_same_logits_and_greedy_tokens(tmp_path: Path) -> None:
    codegen = _tiny_codegen(tmp_path / "codegen")
    gptj_dir = convert_codegen_to_gptj(tmp_path / "codegen", tmp_path / "gptj")
    gptj = transformers.GPTJForCausalLM.from_pretrained(gptj_dir).eval()
    tokens = torch.randint(2, 96, (2, 24), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = codegen(tokens).logits  # type: ignore[operator]
        actual = gptj(tokens).logits
    difference = (expected - actual).abs().max().item()
    assert difference < LOGIT_TOLERANCE, difference
    prompt = tokens[:1, :8]
    kwargs = {"max_new_tokens": 12, "do_sample": False, "pad_token_id": 1}
    with torch.no_grad():
        assert torch.equal(
            codegen.generate(prompt, **kwargs),  # type: ignore[attr-defined]
            gptj.generate(prompt, **kwargs),
        )


def test_models_convert_command(tmp_path: Path) -> None:
    from fauxpilot.cli import main

    _tiny_codegen(tmp_path / "codegen")
    assert main(["models", "convert", "codegen-to-gptj", str(tmp_path / "codegen"),
                 str(tmp_path / "gptj")]) == 0  # fmt: skip
    config = transformers.AutoConfig.from_pretrained(tmp_path / "gptj")
    assert config.model_type == "gptj" and config.rotary_dim == 4
