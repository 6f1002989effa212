"""The evaluation package without a model: pass@k, the sandbox, test programs, resuming."""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from fauxpilot.evaluation.cli import default_infilling_stops, register
from fauxpilot.evaluation.client import (
    HUMANEVAL_STOPS,
    CompletionClient,
    RequestSettings,
    api_root,
    request_body,
    truncate_at_stops,
)
from fauxpilot.evaluation.judges import ProgramJudge
from fauxpilot.evaluation.passk import ks_for, mean_pass_at_k, pass_at_k
from fauxpilot.evaluation.report import RunDescription, format_report
from fauxpilot.evaluation.results import TaskResult, load_results
from fauxpilot.evaluation.runner import RunConfig, RunOutcome, group_by_problem, run_evaluation
from fauxpilot.evaluation.sandbox import (
    Isolation,
    Sandbox,
    candidate_isolations,
    detect_isolation,
)
from fauxpilot.evaluation.sandbox_limits import Limits
from fauxpilot.evaluation.tasks import (
    Task,
    as_editor_sends,
    load_humaneval,
    load_infilling,
    move_cursor,
    program_for,
)
from tests.terminal import bar_lines, run_on_terminal

SINGLE_LINE = (
    Path(__file__).resolve().parents[3]
    / "shared/eval/humaneval-infilling/HumanEval-SingleLineInfilling.jsonl.gz"
)
TIMEOUT = 2.0
REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox.detect(Limits(timeout=TIMEOUT))


@pytest.fixture(scope="module")
def infilling_task() -> Task:
    if not SINGLE_LINE.exists():
        pytest.skip(f"the infilling data is not at {SINGLE_LINE}")
    return load_infilling(SINGLE_LINE)[0]


def add_task(index: int) -> Task:
    return Task(
        task_id=f"Add/{index}",
        prompt="def add(a, b):\n",
        test="def check(candidate):\n    assert candidate(2, 3) == 5\n",
        entry_point="add",
        canonical_solution="    return a + b\n",
    )


# pass@k


def exact_pass_at_k(n: int, c: int, k: int) -> float:
    if n - c < k:
        return 1.0
    return float(1 - Fraction(math.comb(n - c, k), math.comb(n, k)))


def test_pass_at_k_hand_computed_values() -> None:
    assert pass_at_k(1, 0, 1) == 0.0
    assert pass_at_k(1, 1, 1) == 1.0
    assert pass_at_k(10, 1, 1) == pytest.approx(0.1)
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(10, 1, 10) == 1.0
    assert pass_at_k(10, 2, 5) == pytest.approx(1 - 56 / 252)  # C(8,5) / C(10,5)
    assert pass_at_k(200, 1, 100) == pytest.approx(0.5)  # C(199,100) / C(200,100) = 1/2
    assert pass_at_k(5, 4, 2) == 1.0  # fewer failures than k: some sample passes


def test_pass_at_k_is_stable_for_large_n() -> None:
    for n, c, k in [(1000, 3, 100), (500, 250, 10), (200, 0, 100), (128, 7, 100)]:
        assert pass_at_k(n, c, k) == pytest.approx(exact_pass_at_k(n, c, k), abs=1e-12)


def test_pass_at_k_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError):
        pass_at_k(5, 6, 1)
    with pytest.raises(ValueError):
        pass_at_k(5, 1, 6)


def test_mean_pass_at_k_and_the_ks_a_sample_count_allows() -> None:
    assert mean_pass_at_k([[True], [False], [True], [True]], 1) == pytest.approx(0.75)
    assert mean_pass_at_k([[True, False], [False, False]], 2) == pytest.approx(0.5)
    assert ks_for(1) == [1]
    assert ks_for(20) == [1, 10]
    assert ks_for(100) == [1, 10, 100]


# the sandbox


def test_a_passing_program_passes(sandbox: Sandbox) -> None:
    result = sandbox.run("assert sum([1, 2]) == 3\n")
    assert result.passed, result.error
    assert result.status == "passed"


def test_a_failing_assert_fails_with_its_traceback(sandbox: Sandbox) -> None:
    result = sandbox.run("assert 1 + 1 == 3, 'arithmetic'\n")
    assert result.status == "failed"
    assert "AssertionError: arithmetic" in result.error


def test_exiting_early_with_status_zero_does_not_pass(sandbox: Sandbox) -> None:
    result = sandbox.run("import sys\nsys.exit(0)\nassert False\n")
    assert result.status == "failed"


def test_an_infinite_loop_times_out_within_the_limit(sandbox: Sandbox) -> None:
    start = time.monotonic()
    result = sandbox.run("while True:\n    pass\n")
    assert result.status == "timeout"
    assert time.monotonic() - start < TIMEOUT + 3


def test_the_program_cannot_connect_to_the_local_server(sandbox: Sandbox) -> None:
    if not sandbox.isolation.network_isolated:
        pytest.skip(f"no network namespace here: {sandbox.isolation.description}")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        result = sandbox.run(
            f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
        )
    assert result.status == "failed"
    assert "OSError" in result.error or "Error" in result.error


def test_files_written_stay_in_a_throwaway_directory(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    program = (
        "import os\n"
        "open('left-behind.txt', 'w').write('x')\n"
        "assert os.path.exists('left-behind.txt')\n"
        "assert os.environ['HOME'] == os.getcwd()\n"
        f"assert os.getcwd() != {str(tmp_path)!r}\n"
    )
    result = sandbox.run(program)
    assert result.passed, result.error
    assert list(tmp_path.iterdir()) == []


def test_the_environment_is_stripped(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAUXPILOT_EVAL_SECRET", "do-not-leak")
    result = sandbox.run("import os\nassert 'FAUXPILOT_EVAL_SECRET' not in os.environ\n")
    assert result.passed, result.error


def escape_program(targets: list[Path]) -> str:
    """Tries to create each target, then requires that none was created and cwd is writable."""
    return (
        "written = []\n"
        f"for path in {[str(target) for target in targets]!r}:\n"
        "    try:\n"
        "        with open(path, 'x') as file:\n"
        "            file.write('escaped')\n"
        "    except OSError:\n"
        "        pass\n"
        "    else:\n"
        "        written.append(path)\n"
        "assert not written, f'wrote {written}'\n"
        "with open('inside.txt', 'w') as inside:\n"
        "    inside.write('the working directory is writable')\n"
        "assert open('inside.txt').read() == 'the working directory is writable'\n"
    )


@pytest.fixture
def outside_targets() -> Iterator[list[Path]]:
    """A file in a fresh directory anyone may write to, and a new file in the repository."""
    with tempfile.TemporaryDirectory(prefix="fauxpilot-test-outside-") as fresh:
        os.chmod(fresh, 0o777)  # so that only the read-only mount can stop the write
        targets = [Path(fresh, "escaped.txt"), REPOSITORY / f"escaped-{secrets.token_hex(4)}.txt"]
        yield targets
        for target in targets:
            target.unlink(missing_ok=True)


def require_read_only(isolation: Isolation) -> None:
    if not isolation.filesystem_protected:
        pytest.skip(f"no read-only filesystem here: {isolation.description}")


def test_the_escape_check_sees_a_write_when_nothing_protects(outside_targets: list[Path]) -> None:
    unprotected = Sandbox(Isolation("none: test"), Limits(timeout=TIMEOUT))
    result = unprotected.run(escape_program(outside_targets[:1]))
    assert result.status == "failed" and "wrote" in result.error
    assert outside_targets[0].exists()


def test_a_program_cannot_write_outside_its_working_directory(
    sandbox: Sandbox, outside_targets: list[Path]
) -> None:
    require_read_only(sandbox.isolation)
    result = sandbox.run(escape_program(outside_targets))
    assert result.passed, result.error
    assert not any(target.exists() for target in outside_targets)


def test_every_read_only_set_up_that_works_here_blocks_writes(
    outside_targets: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    as_root = candidate_isolations() if os.geteuid() == 0 else []
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # the set-ups for another user
    candidates = [c for c in [*as_root, *candidate_isolations()] if c.read_only]
    working = [c for c in candidates if Sandbox(c, Limits(timeout=TIMEOUT)).run("").passed]
    if not working:
        pytest.skip("no read-only set-up works here (no mount or user namespaces?)")
    for isolation in working:
        result = Sandbox(isolation, Limits(timeout=TIMEOUT)).run(escape_program(outside_targets))
        assert result.passed, f"{isolation.description}: {result.error}"
        assert not any(target.exists() for target in outside_targets), isolation.description


def test_the_program_cannot_undo_the_read_only_mounts(sandbox: Sandbox) -> None:
    require_read_only(sandbox.isolation)
    program = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "remount = lambda: libc.mount(None, b'/', None, ctypes.c_ulong(32 | 4096), None)\n"
        "assert remount() != 0, 'remounted / writable'\n"
        "assert libc.umount2(os.getcwd().encode(), 2) != 0, 'unmounted the working directory'\n"
        "status = open('/proc/self/status').read().splitlines()\n"
        "assert 'CapEff:\\t0000000000000000' in status, status\n"
        "if libc.unshare(0x10000000 | 0x00020000) == 0:  # new user and mount namespaces\n"
        "    assert remount() != 0, 'remounted / writable in a new user namespace'\n"
    )
    result = sandbox.run(program)
    assert result.passed, result.error


def test_dev_null_proc_and_only_harmless_devices_are_there(sandbox: Sandbox) -> None:
    require_read_only(sandbox.isolation)
    bubblewrap = sandbox.isolation.description.startswith("bubblewrap")
    program = (
        "import os\n"
        "with open(os.devnull, 'w') as null:\n"
        "    null.write('x')\n"
        "assert len(open('/dev/urandom', 'rb').read(8)) == 8\n"
        "assert b'program.py' in open('/proc/1/cmdline', 'rb').read()  # its own /proc\n"
        "allowed = {'null', 'zero', 'full', 'random', 'urandom'}\n"
        "allowed |= {'fd', 'stdin', 'stdout', 'stderr'}\n"
        # bubblewrap's own /dev: a private pty instance, tmpfs shm, no controlling terminal.
        + ("allowed |= {'ptmx', 'pts', 'shm', 'core', 'tty'}\n" if bubblewrap else "")
        + "assert set(os.listdir('/dev')) <= allowed, os.listdir('/dev')\n"
    )
    result = sandbox.run(program)
    assert result.passed, result.error


def test_without_unshare_it_says_so_and_still_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    isolation = detect_isolation(Limits(timeout=TIMEOUT))
    assert not isolation.network_isolated
    assert isolation.description.startswith("none: ")
    assert Sandbox(isolation, Limits(timeout=TIMEOUT)).run("assert True\n").passed


# test programs


def test_program_assembly_for_both_kinds() -> None:
    task = add_task(0)
    expected = "def add(a, b):\n    return a + b\n\n" + task.test + "\ncheck(add)\n"
    assert program_for(task, "    return a + b\n") == expected
    infill = Task("t", "P", "T", "f", "C", suffix="S")
    assert program_for(infill, "M") == "PMS\nT\ncheck(f)\n"


def test_a_whole_line_hole_leaves_its_newline_to_the_suffix_as_in_an_editor() -> None:
    line_hole = Task("t", "def f():\n", "T", "f", "    return 1\n", suffix="\nx = f()\n")
    moved = as_editor_sends(line_hole)
    assert moved.canonical_solution == "    return 1" and moved.suffix == "\n\nx = f()\n"
    assert program_for(moved, "    return 1") == program_for(line_hole, "    return 1\n")
    mid_line = Task("t", "def f():\n    return", "T", "f", " 1\n", suffix="x = f()\n")
    assert as_editor_sends(mid_line) == mid_line
    partial = Task("t", "def f():\n", "T", "f", "    return", suffix=" 1\n")
    assert as_editor_sends(partial) == partial
    assert as_editor_sends(add_task(0)) == add_task(0)  # HumanEval: no suffix


def test_the_moved_newline_keeps_a_real_task_s_canonical_program_passing(
    sandbox: Sandbox, infilling_task: Task
) -> None:
    moved = as_editor_sends(infilling_task)
    assert moved.suffix is not None and moved.suffix.startswith("\n")
    assert "\n" not in moved.canonical_solution
    result = sandbox.run(program_for(moved, moved.canonical_solution))
    assert result.passed, result.error


def test_only_the_single_line_set_stops_at_a_newline_by_default() -> None:
    assert default_infilling_stops("HumanEval-SingleLineInfilling") == ("\n",)
    assert default_infilling_stops("HumanEval-SingleLineInfilling", "mid-line") == ("\n",)
    assert default_infilling_stops("HumanEval-SingleLineInfilling", "line-end") == ()
    assert default_infilling_stops("HumanEval-MultiLineInfilling") == ()
    assert default_infilling_stops("HumanEval-RandomSpanInfillingLight") == ()


def test_infilling_canonical_solution_passes_and_a_wrong_one_fails(
    sandbox: Sandbox, infilling_task: Task
) -> None:
    right = sandbox.run(program_for(infilling_task, infilling_task.canonical_solution))
    assert right.passed, right.error
    wrong = sandbox.run(program_for(infilling_task, "    return None\n"))
    assert not wrong.passed


def test_humaneval_problems_load_and_their_solution_passes(sandbox: Sandbox) -> None:
    tasks = load_humaneval()
    assert len(tasks) == 164
    first = tasks[0]
    assert first.task_id == "HumanEval/0" and first.suffix is None
    assert sandbox.run(program_for(first, first.canonical_solution)).passed
    assert not sandbox.run(program_for(first, "    return not True\n")).passed


# requests


def test_request_bodies_send_the_suffix_only_when_asked() -> None:
    infill = Task("t", "def f():\n", "T", "f", "C", suffix="    return x\n")
    body = request_body(infill, RequestSettings(max_tokens=128, stop=()))
    assert body["prompt"] == "def f():\n" and body["suffix"] == "    return x\n"
    assert "stop" not in body and body["max_tokens"] == 128 and body["n"] == 1
    assert "suffix" not in request_body(infill, RequestSettings(send_suffix=False))
    humaneval = request_body(add_task(0), RequestSettings())
    assert "suffix" not in humaneval and humaneval["stop"] == list(HUMANEVAL_STOPS)
    assert humaneval["temperature"] == 0.0 and humaneval["model"] == "codegen"


def test_completions_are_cut_at_stop_strings_and_urls_normalised() -> None:
    assert truncate_at_stops("    return 1\n\ndef g():\n", HUMANEVAL_STOPS) == "    return 1\n"
    assert truncate_at_stops("    return 1\n", ()) == "    return 1\n"
    assert api_root("http://h:5000/v1/") == "http://h:5000"
    assert api_root("http://h:5000") == "http://h:5000"


def test_the_report_gives_pass_at_k_for_the_samples_taken() -> None:
    def result(task_id: str, passed: list[bool]) -> TaskResult:
        n = len(passed)
        return TaskResult(task_id, ("x",) * n, tuple(passed), ("passed",) * n, (None,) * n, 2.0)

    outcome = RunOutcome([result("a", [True] + [False] * 9), result("b", [False] * 10)], 1)
    settings = RequestSettings(samples=10, temperature=0.8)
    run = RunDescription("HumanEval", "http://h", settings, "sandbox: none: test")
    report = format_report(outcome, run)
    assert "pass@1: 5.0%" in report and "pass@10: 50.0%" in report
    assert "pass@100" not in report and "sandbox: none: test" in report


# resuming


def fake_client(answer: str, requests: list[dict[str, Any]]) -> CompletionClient:
    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        requests.append(body)
        choices = [{"index": i, "text": answer} for i in range(body["n"])]
        return httpx.Response(200, json={"choices": choices})

    http = httpx.Client(transport=httpx.MockTransport(handle))
    return CompletionClient("http://fake", RequestSettings(), http=http)


def test_a_results_file_resumes_where_it_stopped(sandbox: Sandbox, tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    earlier = TaskResult("Add/0", ("    return 0\n",), (False,), ("failed",), ("no",), 1.0)
    out.write_text(earlier.to_json() + "\n" + '{"task_id": "Add/1", "compl', encoding="utf-8")
    requests: list[dict[str, Any]] = []
    tasks = [add_task(i) for i in range(3)]
    with fake_client("    return a + b\n", requests) as client:
        outcome = run_evaluation(tasks, client, ProgramJudge(sandbox), RunConfig(2, out))
    assert len(requests) == 2  # Add/0 was done; the cut-off line for Add/1 does not count
    assert outcome.resumed == 1
    assert [r.task_id for r in outcome.results] == ["Add/0", "Add/1", "Add/2"]
    assert [r.passed for r in outcome.results] == [(False,), (True,), (True,)]
    assert set(load_results(out)) == {"Add/0", "Add/1", "Add/2"}


def test_tasks_of_one_problem_are_grouped_in_file_order() -> None:
    other = Task("Sub/0", "def sub(a, b):\n", "def check(c):\n    pass\n", "sub", "")
    tasks = [add_task(0), other, add_task(1), add_task(2)]
    groups = group_by_problem(tasks)
    assert [[t.task_id for t in group] for group in groups] == [
        ["Add/0", "Add/1", "Add/2"],
        ["Sub/0"],
    ]


def test_a_problem_s_tasks_are_sent_one_after_another(sandbox: Sandbox) -> None:
    in_flight: list[int] = [0, 0]  # now, most at once
    lock = threading.Lock()

    def handle(request: httpx.Request) -> httpx.Response:
        with lock:
            in_flight[0] += 1
            in_flight[1] = max(in_flight)
        time.sleep(0.05)
        with lock:
            in_flight[0] -= 1
        return httpx.Response(200, json={"choices": [{"index": 0, "text": "    return a + b\n"}]})

    http = httpx.Client(transport=httpx.MockTransport(handle))
    tasks = [add_task(i) for i in range(4)]
    with CompletionClient("http://fake", RequestSettings(), http=http) as client:
        outcome = run_evaluation(tasks, client, ProgramJudge(sandbox), RunConfig(4))
    assert in_flight[1] == 1
    assert [r.task_id for r in outcome.results] == ["Add/0", "Add/1", "Add/2", "Add/3"]
    assert all(r.passed == (True,) for r in outcome.results)


# the command, end to end against a tiny fake server


class CanonicalHandler(BaseHTTPRequestHandler):
    """Answers each completion with the canonical solution of the task whose prompt it got."""

    solutions: ClassVar[dict[str, str]] = {}

    def do_GET(self) -> None:
        self._reply(200, {"status": "ok"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = self.solutions.get(body["prompt"], "")
        self._reply(200, {"choices": [{"index": 0, "text": text}]})

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def canonical_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), CanonicalHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fauxpilot")
    register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_cli_defaults() -> None:
    humaneval = parse(["eval", "humaneval"])
    assert (humaneval.max_tokens, humaneval.concurrency, humaneval.samples) == (300, 4, 1)
    assert humaneval.timeout == 10.0 and humaneval.model == "codegen"
    infilling = parse(["eval", "infilling", "--data", "x.jsonl.gz", "--no-suffix"])
    assert infilling.max_tokens == 128 and infilling.no_suffix and infilling.stop is None


def test_cli_fails_clearly_when_the_server_is_down(tmp_path: Path) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}"
    args = parse(["eval", "humaneval", "--url", url, "--limit", "1"])
    assert args.handler(args) == 2


def test_cli_infilling_run_reports_pass_at_1(
    canonical_server: str,
    infilling_task: Task,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tasks = [as_editor_sends(task) for task in load_infilling(SINGLE_LINE)[::2][:3]]
    CanonicalHandler.solutions = {task.prompt: task.canonical_solution for task in tasks}
    out = tmp_path / "results.jsonl"
    argv = ["eval", "infilling", "--data", str(SINGLE_LINE), "--url", canonical_server]
    args = parse([*argv, "--every", "2", "--limit", "3", "--out", str(out)])
    assert args.handler(args) == 0
    report = capsys.readouterr().out
    assert "pass@1: 100.0%" in report and "3 tasks" in report and "sandbox: " in report
    assert "stop ['\\n']" in report  # the single-line set stops at the end of the line
    written = [json.loads(line)["task_id"] for line in out.read_text().splitlines()]
    assert sorted(written) == sorted(task.task_id for task in tasks)


def test_cli_draws_a_bar_with_the_pass_rate_on_a_terminal_and_logs_off_one(
    canonical_server: str, infilling_task: Task, tmp_path: Path
) -> None:
    tasks = [as_editor_sends(task) for task in load_infilling(SINGLE_LINE)[::2][:3]]
    CanonicalHandler.solutions = {task.prompt: task.canonical_solution for task in tasks}
    command = [sys.executable, "-m", "fauxpilot", "eval", "infilling", "--data", str(SINGLE_LINE),
               "--url", canonical_server, "--every", "2", "--limit", "3"]  # fmt: skip
    status, shown = run_on_terminal([*command, "--out", str(tmp_path / "tty.jsonl")])
    assert status == 0, shown
    bars = bar_lines(shown, "task/s")
    assert bars and "tasks: 100%" in bars[-1] and "3/3" in bars[-1]
    assert "pass@1 100.0%" in bars[-1]

    piped = subprocess.run(
        [*command, "--out", str(tmp_path / "pipe.jsonl")], capture_output=True, text=True
    )
    assert piped.returncode == 0, piped.stderr
    assert "task/s" not in piped.stderr + piped.stdout
    assert "3/3 tasks" in piped.stderr and "pass@1: 100.0%" in piped.stdout


def test_typing_replay_sends_the_prompt_short_of_its_last_characters() -> None:
    from fauxpilot.evaluation.client import CompletionClient, RequestSettings
    from fauxpilot.evaluation.tasks import Task as ReplayTask

    sent: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json={"choices": [{"index": 0, "text": "x"}]})

    task = ReplayTask("t/0", "def f():\n    ret", "", "f", "", suffix="\n")
    settings = RequestSettings(typing_replay=3, stop=())
    http = httpx.Client(transport=httpx.MockTransport(handler))
    with CompletionClient("http://fauxpilot.invalid", settings, http) as client:
        assert client.complete(task) == ["x"]
    assert [body["prompt"] for body in sent] == [
        "def f():\n    ",
        "def f():\n    r",
        "def f():\n    re",
        "def f():\n    ret",
    ]
    assert [body["max_tokens"] for body in sent] == [1, 1, 1, 300]


def test_each_cursor_position_keeps_the_program_and_moves_the_hole(
    sandbox: Sandbox, infilling_task: Task
) -> None:
    task = Task(
        "t", "def f(x):\n    if x:\n", "T", "f", "        return 1\n", suffix="    return 0\n"
    )
    end = move_cursor(task, "line-end")
    assert end.prompt == "def f(x):\n    if x:" and end.canonical_solution == "\n        return 1\n"
    indent = move_cursor(task, "after-indent")
    assert indent.prompt.endswith("if x:\n        ") and indent.canonical_solution == "return 1\n"
    middle = move_cursor(task, "mid-line")
    assert middle.prompt.endswith("        retu") and middle.canonical_solution == "rn 1\n"
    assert move_cursor(task, "line-start") == task
    for position in ("line-end", "after-indent", "mid-line"):
        for original in (task, infilling_task):
            moved = move_cursor(original, position)
            assert moved.prompt + moved.canonical_solution == (
                original.prompt + original.canonical_solution
            )
        real = move_cursor(as_editor_sends(infilling_task), position)
        assert sandbox.run(program_for(real, real.canonical_solution)).passed


def test_the_raw_fim_baseline_sends_the_models_own_prompt_and_no_suffix() -> None:
    infill = Task("t", "def f():\n", "T", "f", "C", suffix="    return x\n")
    tokens = ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>")
    body = request_body(infill, RequestSettings(raw_fim=tokens))
    assert body["prompt"] == "<|fim_prefix|>def f():\n<|fim_suffix|>    return x\n<|fim_middle|>"
    assert "suffix" not in body
    suffix_first = request_body(infill, RequestSettings(raw_fim=tokens, raw_fim_order="spm"))
    assert suffix_first["prompt"] == (
        "<|fim_suffix|>    return x\n<|fim_prefix|>def f():\n<|fim_middle|>"
    )
    humaneval = add_task(0)
    assert "suffix" not in request_body(humaneval, RequestSettings())
    assert request_body(humaneval, RequestSettings(empty_suffix=True))["suffix"] == ""
