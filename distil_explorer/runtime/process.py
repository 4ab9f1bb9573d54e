"""The parent's handle on one worker process: start, ask, notice death, stop.

A worker is `subprocess.Popen([python, "-m", "distil_explorer.runtime.worker"])`
with KERAS_BACKEND in its environment, not a `multiprocessing` "spawn"
process: spawn re-runs the parent's `__main__` in the child (a script without
an `if __name__ == "__main__":` guard would start workers recursively, and
a script that sets KERAS_BACKEND before importing keras would set it in the
child too), and the child can only inherit the parent's `os.environ`. A
subprocess is a clean interpreter with exactly the environment it is given.

Replies are read by a daemon thread into a queue, so waiting for one can
time out on every platform; a second thread keeps the last lines of the
worker's stderr for error messages. Both threads end when the worker exits.
"""

from __future__ import annotations

import collections
import contextlib
import pickle
import queue
import subprocess
import sys
import threading
import weakref
from typing import BinaryIO

from distil_explorer.errors import RemoteTraceback, WorkerError
from distil_explorer.runtime.backends import worker_environment
from distil_explorer.runtime.worker import RECEIVED, read_frame, write_frame

_EXIT = object()  # what the reader thread queues when the worker's stdout ends
_STOP_GRACE_S = 5.0
_STDERR_LINES = 40

__all__ = ["RemoteTraceback", "WorkerProcess", "raise_remote"]


class WorkerProcess:
    """One worker for one backend, started on demand and restarted after it dies.

    Not thread-safe: `Runner` serialises calls. A worker that is found dead
    before a request is started again silently (nothing was lost); one that
    dies or times out during a request is stopped and the request raises.

    Args:
        backend: str. The worker's KERAS_BACKEND.

    Examples:
    ```python
    worker = WorkerProcess("jax")
    reply = worker.request({"op": "capture", ...}, timeout=300)
    worker.stop()
    ```
    """

    def __init__(self, backend: str):
        self.backend = backend
        self._process: subprocess.Popen | None = None
        self._replies: queue.Queue | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        self._finalizer: weakref.finalize | None = None
        self._stderr_thread: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        """The worker's process id while one is running, else None."""
        return self._process.pid if self.alive else None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float | None) -> None:
        """Start the worker (if none is running) and wait for it to be ready."""
        if self.alive:
            return
        self.stop()
        process = subprocess.Popen(
            [sys.executable, "-m", "distil_explorer.runtime.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=worker_environment(self.backend),
        )
        self._process, self._replies = process, queue.Queue()
        self._stderr = collections.deque(maxlen=_STDERR_LINES)
        # Stops the worker when this handle is collected or at interpreter
        # exit; it must not hold `self`, or `self` would never be collected.
        self._finalizer = weakref.finalize(self, _stop_process, process)
        _daemon(_read_replies, process.stdout, self._replies)
        self._stderr_thread = _daemon(_keep_tail, process.stderr, self._stderr)
        reply = self._receive(timeout, "start-up")
        if reply.get("op") != "ready":
            self.stop()
            # Whatever failed (often an import), the caller's news is that
            # the worker could not start: a WorkerError, with its traceback.
            raise_remote({**reply, "pickled": None}, self.backend, "start-up")

    def request(self, message: dict, timeout: float | None) -> dict:
        """Send `message`, return the worker's reply (a dict with an "op").

        The worker acknowledges each request as soon as it has read it
        (`received`). A worker that is gone before that (killed a moment
        ago, its pipes not yet closed) has lost nothing: it is restarted and
        the request sent again, once, without the caller noticing. One that
        dies after the acknowledgement raises `WorkerError`.
        """
        what = message.get("op", "request")
        for last in (False, True):
            self.start(timeout)
            try:
                write_frame(self._process.stdin, message)
            except (BrokenPipeError, ConnectionResetError, ValueError):
                self.stop()  # gone before the write: nothing was computed
                continue
            if self._receive(timeout, what, ack=True, last=last) is not None:
                return self._receive(timeout, what)
        raise WorkerError(
            f"backend={self.backend!r}: two workers in a row exited before they "
            f"could read the {what} request; a new one starts on the next call",
            backend=self.backend,
        )

    def stop(self, graceful: bool = True) -> None:
        """End the worker and reap it; a no-op when none is running."""
        finalizer, self._finalizer = self._finalizer, None
        if finalizer is not None and finalizer.alive:
            if graceful:
                finalizer()
            else:
                finalizer.detach()
                _stop_process(self._process, grace=0.0)
        self._process, self._replies = None, None

    def _receive(
        self, timeout: float | None, what: str, ack: bool = False, last: bool = True
    ) -> dict | None:
        """The next reply. With `ack`, the acknowledgement: None when the
        worker exited before it (unless `last`, which raises as any exit)."""
        process = self._process
        try:
            reply = self._replies.get(timeout=timeout)
        except queue.Empty:
            self.stop(graceful=False)
            raise TimeoutError(
                f"timeout={timeout}: the {self.backend} worker (pid {process.pid}) "
                f"gave no answer to {what} in time; it was stopped and a new one "
                "starts on the next call; allowed: a larger Runner(timeout=...) "
                "or None"
            ) from None
        except BaseException:
            # Interrupted while waiting: the reply would arrive out of turn.
            self.stop(graceful=False)
            raise
        if reply is _EXIT and ack and not last:
            self.stop()  # gone before it read the request: nothing was lost
            return None
        if reply is _EXIT:
            code = process.wait()
            self.stop()
            self._stderr_thread.join(timeout=1.0)  # its last lines, if any
            tail = "".join(self._stderr).rstrip() or "(nothing)"
            raise WorkerError(
                f"backend={self.backend!r}: the worker (pid {process.pid}) exited "
                f"with code {code} during {what}; a new one starts on the next "
                f"call. The end of its stderr:\n{tail}",
                backend=self.backend,
            )
        if ack and reply.get("op") != RECEIVED:
            self.stop(graceful=False)
            raise WorkerError(
                f"backend={self.backend!r}: the worker answered {what} with "
                f"op={reply.get('op')!r} before acknowledging it; it was stopped",
                backend=self.backend,
            )
        return reply


def raise_remote(reply: dict, backend: str, what: str) -> None:
    """Raise the exception a worker's `error` reply describes, with its traceback.

    Builtin and distil_explorer exceptions are raised as themselves (a bad
    input is a ValueError on either side of the pipe); others as
    `WorkerError`. Either way `worker_traceback` holds the worker's
    traceback text, which is also the exception's `__cause__`.
    """
    text = reply.get("traceback", "")
    exc = None
    if reply.get("pickled"):
        try:
            exc = pickle.loads(reply["pickled"])
        except Exception:
            exc = None
    if not isinstance(exc, Exception):
        kind = reply.get("type")
        if reply.get("module") not in (None, "builtins"):
            kind = f"{reply['module']}.{kind}"
        exc = WorkerError(
            f"backend={backend!r}: the worker raised {kind} during {what}: "
            f"{reply.get('message')}",
            backend=backend,
        )
    exc.worker_traceback = text
    raise exc from RemoteTraceback(text)


def _daemon(target, *args) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def _read_replies(stream: BinaryIO, replies: queue.Queue) -> None:
    try:
        while True:
            replies.put(read_frame(stream))
    except (EOFError, OSError, ValueError, pickle.UnpicklingError):
        pass
    finally:
        replies.put(_EXIT)
        stream.close()


def _keep_tail(stream: BinaryIO, tail: collections.deque) -> None:
    try:
        for line in stream:
            tail.append(line.decode("utf-8", "replace"))
    except (OSError, ValueError):
        pass
    finally:
        stream.close()


def _stop_process(process: subprocess.Popen, grace: float = _STOP_GRACE_S) -> None:
    """Close the worker's stdin (its signal to exit), then kill it if it lingers."""
    with contextlib.suppress(OSError):
        process.stdin.close()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
