import tracemalloc

from fauxpilot.completion.typeahead import TypeaheadCache
from fauxpilot.completion.types import CompletionJob
from fauxpilot.engine.base import SamplingParams

GREEDY = SamplingParams(temperature=0.0)


def job(prompt: str, suffix: str | None = "\n", **changes: object) -> CompletionJob:
    fields: dict[str, object] = {
        "request_id": "r",
        "prompts": [prompt],
        "suffix": suffix,
        "max_tokens": 16,
        "sampling": GREEDY,
    }
    fields.update(changes)
    return CompletionJob(**fields)  # type: ignore[arg-type]


def test_typing_what_was_suggested_serves_the_rest() -> None:
    cache = TypeaheadCache()
    cache.remember(job("def f():\n    "), "return 42", "stop")
    hit = cache.lookup(job("def f():\n    ret"))
    assert hit is not None
    assert (hit.text, hit.finish_reason) == ("urn 42", "stop")


def test_typing_something_else_misses() -> None:
    cache = TypeaheadCache()
    cache.remember(job("a = "), "1 + 2", "length")
    assert cache.lookup(job("a = 7")) is None
    assert cache.lookup(job("a = ")) is None  # nothing typed: run the model again
    assert cache.lookup(job("a = 1 + 2")) is None  # typed all of it: nothing left


def test_only_the_same_request_shape_and_greedy_qualify() -> None:
    cache = TypeaheadCache()
    cache.remember(job("a = "), "1 + 2", "length")
    assert cache.lookup(job("a = 1", suffix="\nother\n")) is None
    assert cache.lookup(job("a = 1", max_tokens=32)) is None
    assert cache.lookup(job("a = 1", sampling=SamplingParams(temperature=0.5))) is None
    assert cache.lookup(job("a = 1", logprobs=1)) is None
    sampled = TypeaheadCache()
    sampled.remember(job("a = ", sampling=SamplingParams(temperature=0.5)), "1 + 2", "stop")
    assert sampled.lookup(job("a = 1", sampling=SamplingParams(temperature=0.5))) is None


def test_the_cache_keeps_no_code_however_large_the_prompts() -> None:
    cache = TypeaheadCache()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for number in range(64):
        prompt = f"# file {number}\n" + "x = 1\n" * 200_000  # 1.2 MB of code each
        cache.remember(job(prompt, suffix=prompt), "return 42", "stop")
        del prompt
    kept = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert kept < 256 * 1024, kept  # 64 entries of digests and suggestions, not 150 MB
    again = "# file 63\n" + "x = 1\n" * 200_000
    hit = cache.lookup(job(again + "ret", suffix=again))
    assert hit is not None and hit.text == "urn 42"
    assert cache.lookup(job(again.replace("63", "64") + "ret", suffix=again)) is None
