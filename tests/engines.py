"""Engine options for tests that load a model by hand: CPU only, no drafting."""

from __future__ import annotations

from fauxpilot.engine.llamacpp_model import LoadOptions

MAX_WAITING = 64


def cpu_options(threads: int, context_per_slot: int, slots: int, batch_size: int) -> LoadOptions:
    return LoadOptions(
        threads=threads,
        context_per_slot=context_per_slot,
        slots=slots,
        batch_size=batch_size,
        prefill_while_decoding=64,
        draft_tokens=0,
        gpu_layers=0,
        main_gpu=0,
        tensor_split=(),
    )
