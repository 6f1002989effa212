"""What the completion domain takes and gives; no HTTP, no engine internals."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from fauxpilot.engine.base import SamplingParams


@dataclass(frozen=True)
class ContextFile:
    """Another file of the project, given as context (llama.vim's input_extra, Tabby's snippets)."""

    name: str
    text: str


@dataclass(frozen=True)
class CompletionJob:
    request_id: str
    prompts: list[str] | list[list[int]]
    max_tokens: int
    suffix: str | None = None
    sampling: SamplingParams = field(default_factory=SamplingParams)
    stop: tuple[str, ...] = ()
    logprobs: int | None = None
    echo: bool = False
    n: int = 1
    best_of: int = 1
    context_files: tuple[ContextFile, ...] = ()
    # Text the client wants after the FIM middle token (llama.cpp's /infill `prompt`).
    middle: str | None = None
    # Whose caches (KV prefix, typeahead) this request may use: one scope per API key.
    cache_scope: str = ""
    # The editor's language id or the file's path, for per-language stopping.
    language: str | None = None
    path: str | None = None
    # The model the client asked for: a gateway may run a LoRA adapter by that name.
    model: str | None = None


@dataclass(frozen=True)
class LogprobEntry:
    text: str
    logprob: float | None
    top: dict[str, float]
    offset: int = 0


@dataclass
class ChoiceDelta:
    index: int
    text: str
    logprobs: list[LogprobEntry] | None = None
    finish_reason: str | None = None


@dataclass
class Choice:
    index: int
    text: str = ""
    logprobs: list[LogprobEntry] | None = None
    finish_reason: str | None = None
    cumulative_logprob: float = 0.0


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class CompletionResult:
    choices: list[Choice]
    usage: Usage


class StopFields(BaseModel):
    """The editor-like stops a user can turn off; the defaults, bounds and help of their settings.

    `StopOptions` carries them to stopping.py; the settings' completion group inherits them, so
    each default is written here only.
    """

    # Before a line indented less than the block the suggestion is in.
    dedent_stop: bool = Field(
        True, description="end a suggestion before a line indented less than its block"
    )
    # Where the suggestion writes the suffix's first line again.
    suffix_repeat_stop: bool = Field(
        True, description="end a suggestion where it writes the suffix's first line again"
    )
    # At the next top-level definition (the language's stop words), for multi-line requests.
    language_stop_words: bool = Field(
        True, description="end a multi-line suggestion at the next top-level definition"
    )


class StopOptions(StopFields):
    """Which of the editor-like stops end a suggestion that fills a hole (stopping.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class CompletionFields(BaseModel):
    """How completions are computed, as a user sets it: defaults, bounds and help of each setting.

    `CompletionOptions` carries them to the completion service; the settings' completion group
    inherits them, so each default is written here only.
    """

    # Keystrokes typed after a cached FIM prompt go after its middle token, so each appends
    # to the cache instead of reading the suffix again (anchors.py): ~4x sooner on a line the
    # model cannot predict (BENCHMARKS.md), no quality lost with healing on (EVAL.md).
    fim_anchor_chars: int = Field(
        64,
        ge=0,
        le=4096,
        description="lay out up to this many characters typed after a cached FIM prompt "
        "after its middle token instead of reading its suffix again (0: off)",
    )
    # Without it, a word typed halfway after the middle token reads as a finished word and
    # anchors cost 3.7 points of random-span infilling (EVAL.md, "FIM anchors").
    fim_anchor_heal: bool = Field(
        True,
        description="with FIM anchors, let the model choose the typed text's last token "
        "(token healing; llama.cpp engines)",
    )
    # A request with `suffix: ""` gets the FIM layout (with an empty suffix section).
    fim_empty_suffix: bool = Field(
        False, description='give a request with suffix "" the FIM layout (empty suffix section)'
    )
    # Lines of the suffix a FIM and a left-to-right suggestion are scored against, the one
    # that leads better into them being kept (suffix_rank.py); 0: FIM suggestion only.
    suffix_rank_lines: int = Field(
        3,
        ge=0,
        le=1000,
        description="pick between a FIM and a left-to-right one-line suggestion by how well "
        "each leads into this many lines after the cursor (0: FIM only)",
    )
    # Rank requests without a one-line stop too; off, since two long suggestions are
    # generated and scored where one would do (BENCHMARKS.md).
    suffix_rank_multiline: bool = Field(
        False,
        description="rank suggestions without a one-line stop too (slower: both run long)",
    )
    # Serve the rest of the last suggestion when the user types what it predicted.
    typeahead: bool = Field(
        True, description="serve the rest of the last suggestion when the user types it"
    )
    # Shares of the prompt budget kept for the suffix and for other files' context.
    suffix_share: float = Field(
        0.25, ge=0.0, le=0.9, description="share of a long prompt's budget kept for the suffix"
    )
    context_share: float = Field(
        0.3, ge=0.0, le=0.9, description="share of the prompt budget for other files' context"
    )
    # Bounds on one request: larger max_tokens is refused, longer prompts are trimmed.
    max_tokens_limit: int = Field(
        2048, ge=1, le=131072, description="largest max_tokens a request may ask for"
    )
    max_prompt_tokens: int = Field(
        131072, ge=16, le=131072, description="prompts are trimmed to this many tokens"
    )
    # Log every prompt and completion (off by default: the code is private).
    log_content: bool = Field(
        False, description="log prompts and completions (off: code never reaches the logs)"
    )


class CompletionOptions(CompletionFields):
    """Server-wide choices of how completions are computed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Sequences one request may start (prompts x best_of, or x n).
    max_choices: int = 16
    stops: StopOptions = StopOptions()


class InvalidRequestError(ValueError):
    """A request the model cannot run as asked (a client mistake: 400)."""

    code = "invalid_value"

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


class LimitExceededError(InvalidRequestError):
    """A request asks for more than the server allows."""

    code = "limit_exceeded"
