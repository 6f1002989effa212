"""Runs an evaluation: requests in flight at once, each completion judged as it arrives."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from fauxpilot.evaluation.client import CompletionClient, RequestFailed
from fauxpilot.evaluation.judges import Judge
from fauxpilot.evaluation.results import ResultWriter, TaskResult, load_results
from fauxpilot.evaluation.tasks import Task
from fauxpilot.progress import progress_bar

log = logging.getLogger(__name__)

_PROGRESS_EVERY_SECONDS = 30.0


@dataclass(frozen=True)
class RunConfig:
    concurrency: int = 4
    out: Path | None = None


@dataclass
class RunOutcome:
    """All results for the selected tasks (resumed ones included), in task order."""

    results: list[TaskResult]
    resumed: int
    failures: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def evaluate_task(task: Task, client: CompletionClient, judge: Judge) -> TaskResult:
    """Ask for the task's completions, then judge each one."""
    start = time.monotonic()
    completions = client.complete(task)
    generated = time.monotonic()
    executions = [judge.judge(task, completion) for completion in completions]
    return TaskResult(
        task_id=task.task_id,
        completions=tuple(completions),
        passed=tuple(result.passed for result in executions),
        statuses=tuple(result.status for result in executions),
        errors=tuple(result.error or None for result in executions),
        seconds=time.monotonic() - start,
        generation_seconds=generated - start,
    )


def run_evaluation(
    tasks: Sequence[Task], client: CompletionClient, judge: Judge, config: RunConfig
) -> RunOutcome:
    """Evaluate the tasks that `config.out` does not hold yet, appending their results."""
    start = time.monotonic()
    done = load_results(config.out) if config.out is not None else {}
    resumed = {task.task_id: done[task.task_id] for task in tasks if task.task_id in done}
    pending = [task for task in tasks if task.task_id not in resumed]
    if resumed:
        log.info("%d of %d tasks already in %s", len(resumed), len(tasks), config.out)
    progress = Progress(len(tasks), list(resumed.values()))
    try:
        new, failures = _run_pending(pending, client, judge, config, progress)
    finally:
        progress.bar.close()
    results = {**resumed, **new}
    ordered = [results[task.task_id] for task in tasks if task.task_id in results]
    return RunOutcome(ordered, len(resumed), failures, time.monotonic() - start)


def group_by_problem(tasks: Sequence[Task]) -> list[list[Task]]:
    """Tasks cut from one problem (same test and entry point), in file order.

    One worker sends a group's tasks one after another, as one editor user works through a
    file: each prompt then starts with most of the previous one, which the server has cached.
    Sent at once to different slots, every task of a problem would read the whole file again.
    """
    groups: dict[tuple[str, str], list[Task]] = {}
    for task in tasks:
        groups.setdefault((task.entry_point, task.test), []).append(task)
    return list(groups.values())


def _run_pending(
    pending: Sequence[Task],
    client: CompletionClient,
    judge: Judge,
    config: RunConfig,
    progress: Progress,
) -> tuple[dict[str, TaskResult], dict[str, str]]:
    new: dict[str, TaskResult] = {}
    failures: dict[str, str] = {}
    finished: queue.Queue[tuple[Task, TaskResult | RequestFailed]] = queue.Queue()
    stopping = threading.Event()

    def evaluate_group(group: list[Task]) -> None:
        for task in group:
            if stopping.is_set():
                return
            try:
                finished.put((task, evaluate_task(task, client, judge)))
            except RequestFailed as error:
                finished.put((task, error))

    pool = ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="eval")
    futures = [pool.submit(evaluate_group, group) for group in group_by_problem(pending)]
    try:
        with ResultWriter(config.out) as writer:
            for _ in range(len(pending)):
                task, outcome = _next_finished(finished, futures)
                if isinstance(outcome, RequestFailed):
                    log.error("%s: no completion: %s", task.task_id, outcome)
                    failures[task.task_id] = str(outcome)
                    continue
                writer.write(outcome)
                new[task.task_id] = outcome
                progress.update(outcome)
    except KeyboardInterrupt:
        log.warning("interrupted: waiting for the requests in flight; finished tasks are saved")
        raise
    finally:
        stopping.set()
        pool.shutdown(wait=True, cancel_futures=True)
    return new, failures


def _next_finished(
    finished: queue.Queue[tuple[Task, TaskResult | RequestFailed]],
    futures: list[Future[None]],
) -> tuple[Task, TaskResult | RequestFailed]:
    """The next finished task; re-raises a worker's unexpected error instead of waiting."""
    while True:
        try:
            return finished.get(timeout=0.5)
        except queue.Empty:
            for future in futures:
                if future.done() and future.exception() is not None:
                    raise RuntimeError("an evaluation worker failed") from future.exception()


class Progress:
    """On a terminal a bar with pass@1 so far and time left; otherwise the same as a log line
    every ~5% of the tasks or every 30 s."""

    def __init__(self, total: int, resumed: Sequence[TaskResult]) -> None:
        self.bar = progress_bar(total, "tasks", unit="task")
        self.bar.update(len(resumed))
        self.total = total
        self.done = len(resumed)
        self.new = 0
        self.passed = sum(sum(r.passed) / len(r.passed) for r in resumed)
        self.every = max(1, total // 20)
        self.start = time.monotonic()
        self.last_log = self.start

    def update(self, result: TaskResult) -> None:
        self.done += 1
        self.new += 1
        self.passed += sum(result.passed) / len(result.passed)
        if not self.bar.disable:
            self.bar.set_postfix_str(f"pass@1 {100 * self.passed / self.done:.1f}%", refresh=False)
            self.bar.update()
            return
        now = time.monotonic()
        due = now - self.last_log >= _PROGRESS_EVERY_SECONDS
        if self.done % self.every == 0 or self.done == self.total or due:
            self.last_log = now
            log.info("%s", self.line(now))

    def line(self, now: float) -> str:
        per_task = (now - self.start) / max(self.new, 1)
        left = (self.total - self.done) * per_task
        return (
            f"{self.done}/{self.total} tasks, pass@1 so far {100 * self.passed / self.done:.1f}%"
            f", {per_task:.1f} s/task, about {_duration(left)} left"
        )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"
