"""Request models of llama.cpp's own server (`/infill`, `/completion`), as its editor
clients (llama.vim, llama.vscode, Continue's llama.cpp provider) send them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from fauxpilot.api.protocol import MAX_STOP_LENGTH, MAX_STOPS, ClientRequest, engine_seed
from fauxpilot.engine.base import SamplingParams


class ExtraChunk(BaseModel):
    model_config = ConfigDict(extra="ignore")
    text: str = ""
    filename: str = ""


class LlamaCppRequest(ClientRequest):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    prompt: str = ""
    # -1: until an end token or the context is full; 0: only read the prompt (cache warming).
    n_predict: int = Field(-1, ge=-1)
    # llama.vim sends no temperature: code completion is greedy unless asked otherwise.
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_k: int = Field(0, ge=0, le=1000)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    stop: list[str] = Field(default_factory=list, max_length=MAX_STOPS)
    stream: bool = False
    seed: int | None = Field(None, ge=-(2**63), le=2**64 - 1)
    presence_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    frequency_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    # Time for generating, after which the answer so far is returned (llama.vim: 2500).
    t_max_predict_ms: int = Field(0, ge=0, le=600_000)

    def stops(self) -> tuple[str, ...]:
        return tuple(stop[:MAX_STOP_LENGTH] for stop in self.stop)

    def to_sampling_params(self) -> SamplingParams:
        return SamplingParams(
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            presence_penalty=self.presence_penalty,
            frequency_penalty=self.frequency_penalty,
            seed=engine_seed(self.seed),
        )


class InfillRequest(LlamaCppRequest):
    input_prefix: str = ""
    input_suffix: str = ""
    input_extra: list[ExtraChunk] = Field(default_factory=list, max_length=1024)
