"""The llama.cpp engine in a child process that this one supervises.

A native fault (an instruction the CPU refuses, a llama.cpp assertion) ends the engine
process, not the server: the requests it was running get an EngineCrashed error (503, or
an error event in a stream), health says `restarting`, a new process loads the model, and
health says `ok` again. A crash loop (CRASH_LIMIT crashes within CRASH_WINDOW_SECONDS)
stops the restarts: health says `failed`, with the last cause.

This process keeps the vocabulary alone (VocabOnly, no weights) to tokenize prompts; the
child (process_worker.py) holds the weights, the KV cache and the scheduler.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from fauxpilot.engine.base import (
    EngineCrashed,
    EngineError,
    EngineOverloaded,
    EngineStatus,
    FinishEvent,
    GenerationRequest,
)
from fauxpilot.engine.events import Emit
from fauxpilot.engine.lifecycle import ManagedEngine, Occupancy, Started
from fauxpilot.engine.llamacpp import GgufSpec, llama_model_info
from fauxpilot.engine.llamacpp_model import VocabOnly
from fauxpilot.engine.process_worker import ERROR_KINDS

log = logging.getLogger(__name__)

CRASH_LIMIT = 5
CRASH_WINDOW_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 10.0


@dataclass
class _Ticket:
    number: int
    emit: Emit


class _Child:
    """One engine process and the pipe to it."""

    def __init__(self, process: subprocess.Popen[bytes], connection: Connection) -> None:
        self.process = process
        self.connection = connection
        self.lock = threading.Lock()  # sends come from the event loop and from close()

    def send(self, message: tuple[Any, ...]) -> bool:
        with self.lock:
            try:
                self.connection.send(message)
                return True
            except OSError:
                return False

    def cause_of_death(self) -> str:
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        if code < 0:
            return f"the engine process was killed by {signal.Signals(-code).name}"
        return f"the engine process exited with status {code}"

    def stop(self) -> None:
        self.send(("stop",))
        try:
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.connection.close()


class ProcessEngine(ManagedEngine[_Ticket]):
    """Owns the engine process, the thread that reads its events, and the restarts.

    Never waits on the child from the event loop: submits and cancels are pipe writes,
    events come back through the reader thread; only start and close block.
    """

    def __init__(self, spec: GgufSpec, logging_setup: tuple[str, str] = ("info", "text")) -> None:
        super().__init__(spec.name)
        self._spec = spec
        self._options = spec.options
        self._logging_setup = logging_setup
        self._vocab: VocabOnly | None = None
        self._child: _Child | None = None
        self._tickets: dict[int, _Ticket] = {}
        self._next_ticket = 0
        self._lock = threading.Lock()  # guards _child and _tickets
        self._crashes: deque[float] = deque()
        self._stopping = False
        self._supervisor: threading.Thread | None = None

    # --- ManagedEngine -------------------------------------------------------------------

    def _start_backend(self) -> Started:
        log.info("loading %s from %s in an engine process", self.name, self._spec.path)
        vocab = VocabOnly(self._spec.path)
        try:
            child, context = self._spawn()
        except Exception:
            vocab.close()
            raise
        self._vocab, self._child = vocab, child
        info = llama_model_info(self._spec, vocab.vocab, vocab.vocab.size, context)
        self._supervisor = threading.Thread(
            target=self._supervise, name="fauxpilot-engine-supervisor", daemon=True
        )
        self._supervisor.start()
        log.info(
            "model ready: %s, %d slots of %d tokens, %d threads, engine process %s",
            self.name,
            self._options.slots,
            context,
            self._options.threads,
            child.process.pid,
        )
        return Started(info, vocab.vocab)

    @property
    def engine_pid(self) -> int | None:
        """The engine process's id (for `doctor`, and tests that crash it on purpose)."""
        with self._lock:
            return self._child.process.pid if self._child is not None else None

    def _stop_backend(self) -> None:
        self._stopping = True
        with self._lock:
            child = self._child
        if child is not None:
            child.stop()
        if self._supervisor is not None:
            self._supervisor.join(timeout=STOP_TIMEOUT_SECONDS)
        self._fail_tickets(EngineError("the engine is shutting down"))
        if self._vocab is not None:
            self._vocab.close()
            self._vocab = None

    def _submit(self, request: GenerationRequest, emit: Emit) -> _Ticket:
        with self._lock:
            if len(self._tickets) >= self._options.slots + self._spec.max_waiting:
                raise EngineOverloaded(
                    f"{len(self._tickets)} requests are already in flight; try again shortly"
                )
            if self._child is None:
                raise EngineCrashed("the engine process is restarting; try again shortly")
            ticket = _Ticket(self._next_ticket, emit)
            self._next_ticket += 1
            self._tickets[ticket.number] = ticket
            child = self._child
        if not child.send(("submit", ticket.number, request)):
            self._tickets.pop(ticket.number, None)
            raise EngineCrashed("the engine process is restarting; try again shortly")
        return ticket

    def _cancel(self, work: _Ticket) -> None:
        with self._lock:
            known = self._tickets.pop(work.number, None) is not None
            child = self._child
        if known and child is not None:
            child.send(("cancel", work.number))

    def _occupancy(self) -> Occupancy:
        # Counted here, not asked of the child: health must never wait on the engine.
        slots = self._options.slots
        in_flight = len(self._tickets)
        return Occupancy(
            active=min(in_flight, slots),
            waiting=max(0, in_flight - slots),
            free_slots=max(0, slots - in_flight),
            total_slots=slots,
        )

    # --- the engine process --------------------------------------------------------------

    def _spawn(self) -> tuple[_Child, int]:
        """Start an engine process and wait until its model has decoded a first token."""
        parent_end, child_end = socket.socketpair()
        with child_end:
            process = subprocess.Popen(
                [sys.executable, "-m", "fauxpilot.engine.process_worker", str(child_end.fileno())],
                pass_fds=(child_end.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        child = _Child(process, Connection(parent_end.detach()))
        spec = self._spec
        setup = (str(spec.path), spec.options, spec.max_waiting, self._logging_setup)
        try:
            child.connection.send(setup)
            message = child.connection.recv()
        except (EOFError, OSError) as error:
            child.connection.close()
            raise EngineError(f"{child.cause_of_death()} while loading the model") from error
        if message[0] == "failed":
            child.stop()
            raise EngineError(str(message[1]))
        return child, int(message[1])

    def _supervise(self) -> None:
        """Read the child's events; when it dies, fail its requests and start another."""
        while not self._stopping:
            with self._lock:
                child = self._child
            if child is None:
                return
            self._read_events(child)
            if self._stopping:
                return
            cause = child.cause_of_death()
            log.error("%s; its requests fail and it is started again", cause)
            with self._lock:
                self._child = None
            self._set_status(EngineStatus.RESTARTING, cause)
            self._fail_tickets(EngineCrashed(f"{cause}; the engine is restarting"))
            if not self._restart(cause):
                return

    def _read_events(self, child: _Child) -> None:
        while True:
            try:
                message = child.connection.recv()
            except (EOFError, OSError):
                return
            ticket = self._tickets.get(message[1])
            if ticket is None:
                continue  # cancelled: its events were already on their way
            if message[0] == "event":
                ticket.emit(message[2])
                if isinstance(message[2], FinishEvent):
                    self._tickets.pop(ticket.number, None)
            else:
                self._tickets.pop(ticket.number, None)
                ticket.emit(ERROR_KINDS.get(message[2], EngineError)(message[3]))

    def _restart(self, cause: str) -> bool:
        now = time.monotonic()
        self._crashes.append(now)
        while self._crashes and now - self._crashes[0] > CRASH_WINDOW_SECONDS:
            self._crashes.popleft()
        if len(self._crashes) >= CRASH_LIMIT:
            why = f"{cause}, {len(self._crashes)} times in {CRASH_WINDOW_SECONDS:.0f} s"
            log.error("the engine keeps crashing; no more restarts: %s", why)
            self._set_status(EngineStatus.FAILED, why)
            return False
        started = time.perf_counter()
        try:
            child, _ = self._spawn()
        except Exception as error:
            log.error("the engine process could not be started again: %s", error)
            self._set_status(EngineStatus.FAILED, f"{cause}; the restart failed: {error}")
            return False
        with self._lock:
            self._child = child
        self._restarts += 1
        self._set_status(EngineStatus.OK, f"restarted after: {cause}")
        log.info("engine process %s ready again in %.1f s", child.process.pid, _since(started))
        return True

    def _fail_tickets(self, error: EngineError) -> None:
        with self._lock:
            tickets, self._tickets = list(self._tickets.values()), {}
        for ticket in tickets:
            ticket.emit(error)


def _since(started: float) -> float:
    return time.perf_counter() - started
