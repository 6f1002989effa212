"""The engine process's side: a LlamaRuntime that takes requests over a pipe.

Started as `python -m fauxpilot.engine.process_worker FD` with one end of a socket pair
(never through multiprocessing's spawn, which would run the parent's main script again).
The parent (engine/process.py) first sends `(path, options, max_waiting, logging_setup)`,
then `("submit", ticket, request)`, `("cancel", ticket)` and `("stop",)`; this side answers
`("ready", context_length)` or `("failed", why)` once, then `("event", ticket, event)`
and `("error", ticket, kind, message)` as the scheduler thread produces them. A native
crash here ends only this process.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import signal
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from fauxpilot.engine.base import EngineError, EngineEvent, EngineOverloaded, FinishEvent
from fauxpilot.engine.llamacpp import LlamaRuntime
from fauxpilot.engine.llamacpp_model import LoadOptions
from fauxpilot.engine.scheduler import Generation
from fauxpilot.logs import configure_logging

log = logging.getLogger(__name__)

ERROR_KINDS: dict[str, type[EngineError]] = {
    "overloaded": EngineOverloaded,
    "error": EngineError,
}


class _Outbox:
    """Messages to the parent; the scheduler thread and the main thread both send."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._lock = threading.Lock()

    def send(self, message: tuple[Any, ...]) -> None:
        # OSError: the parent is gone; the main loop ends at its next receive.
        with self._lock, contextlib.suppress(OSError):
            self._connection.send(message)


def main(argv: list[str]) -> int:
    connection = Connection(int(argv[0]))
    try:
        path, options, max_waiting, logging_setup = connection.recv()
    except (EOFError, OSError):
        return 1
    run_engine_process(connection, path, options, max_waiting, logging_setup)
    return 0


def run_engine_process(
    connection: Connection,
    path: str,
    options: LoadOptions,
    max_waiting: int,
    logging_setup: tuple[str, str],
) -> None:
    """The engine process's body: load, say ready, run commands until told to stop."""
    # The parent decides when this process ends (a terminal's Ctrl-C or a service
    # manager's SIGTERM reaches the whole group): it sends "stop", or closes the pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    faulthandler.enable()  # a native crash leaves a Python traceback in the log
    configure_logging(*logging_setup)
    outbox = _Outbox(connection)
    try:
        runtime = LlamaRuntime(Path(path), options, max_waiting)
    except Exception as error:
        outbox.send(("failed", str(error)))
        return
    outbox.send(("ready", runtime.context_length))
    try:
        _serve_commands(connection, runtime, outbox)
    finally:
        runtime.close()


def _serve_commands(connection: Connection, runtime: LlamaRuntime, outbox: _Outbox) -> None:
    running: dict[int, Generation] = {}
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            return  # the parent died or closed the pipe
        kind = message[0]
        if kind == "stop":
            return
        if kind == "submit":
            _submit(runtime, running, outbox, message[1], message[2])
        elif kind == "cancel":
            generation = running.pop(message[1], None)
            if generation is not None:
                runtime.cancel(generation)


def _submit(
    runtime: LlamaRuntime,
    running: dict[int, Generation],
    outbox: _Outbox,
    ticket: int,
    request: Any,
) -> None:
    def forward(event: EngineEvent | BaseException) -> None:
        if isinstance(event, BaseException):
            running.pop(ticket, None)
            kind = "overloaded" if isinstance(event, EngineOverloaded) else "error"
            outbox.send(("error", ticket, kind, str(event)))
            return
        if isinstance(event, FinishEvent):
            running.pop(ticket, None)
        outbox.send(("event", ticket, event))

    generation = Generation(request, forward)
    running[ticket] = generation  # before the scheduler thread can finish it
    try:
        runtime.submit(generation)
    except EngineError as error:
        forward(error)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
