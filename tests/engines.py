"""Engine options for tests that load a model by hand: the settings' defaults but these."""

from __future__ import annotations

from fauxpilot.config.settings import EngineSettings
from fauxpilot.engine.llamacpp_model import LoadOptions
from fauxpilot.server import load_options

MAX_WAITING = EngineSettings.model_fields["max_waiting"].default


def cpu_options(threads: int, context_per_slot: int, slots: int, batch_size: int) -> LoadOptions:
    settings = EngineSettings(
        threads=threads, context_length=context_per_slot, slots=slots, batch_size=batch_size
    )
    return load_options(settings)
