"""Workers: restarted after a kill or a timeout, never left behind.

These use the backend whose worker starts fastest (numpy where installed,
else torch with `isolate=True`); the behaviour under test is the same.
"""

import gc
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from distil_explorer import capture
from distil_explorer.errors import WorkerError
from distil_explorer.runtime import process
from distil_explorer.runtime.runner import Runner
from tests.conftest import tiny_inputs
from tests.runtime.conftest import cheapest_worker_backend, gone

BACKEND = cheapest_worker_backend()


def _new_runner(**kwargs) -> Runner:
    return Runner(BACKEND, isolate=True, timeout=120, **kwargs)


@pytest.fixture(scope="module")
def runner():
    with _new_runner() as runner:
        yield runner


def _wait_until(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_worker_matches_in_process(runner, tiny_backbone):
    trace = runner.capture(tiny_backbone, tiny_inputs())
    expected = capture(tiny_backbone, tiny_inputs())
    assert runner.pid is not None and not runner.in_process
    assert trace.backend == BACKEND
    np.testing.assert_allclose(trace.attentions, expected.attentions, atol=1e-5)
    np.testing.assert_allclose(trace.hidden_states, expected.hidden_states, atol=1e-5)
    assert runner.last_call.capture_s <= runner.last_call.total_s


def test_worker_keeps_the_selection_and_queries_it_was_asked_for(runner, tiny_backbone):
    options = {"keep_qk": True, "layers": [-1], "heads": [1]}
    trace = runner.capture(tiny_backbone, tiny_inputs(), **options)
    expected = capture(tiny_backbone, tiny_inputs(), **options)
    assert (trace.attention_layers, trace.attention_heads) == ((1,), (1,))
    for name in ("attentions", "queries", "keys"):
        np.testing.assert_allclose(
            getattr(trace, name), getattr(expected, name), atol=1e-5
        )
    with pytest.raises(ValueError, match=r"heads=\[7\]: \[7\] out of range"):
        runner.capture(tiny_backbone, tiny_inputs(), heads=[7])


def test_killed_worker_is_restarted_on_next_call(runner, tiny_backbone):
    runner.start()
    pid = runner.pid
    os.kill(pid, signal.SIGKILL)
    assert _wait_until(lambda: runner.pid is None)  # noticed (and reaped)
    runner.capture(tiny_backbone, tiny_inputs())  # re-sends the weights too
    assert runner.pid not in (None, pid)
    assert gone(pid)


def test_hung_worker_times_out_and_is_replaced(runner, tiny_backbone):
    runner.capture(tiny_backbone, tiny_inputs())
    pid = runner.pid
    runner.timeout = 1e-4  # no capture answers this fast: as good as a hang
    try:
        with pytest.raises(TimeoutError, match=r"timeout=0.0001: .* gave no answer"):
            runner.capture(tiny_backbone, tiny_inputs())
    finally:
        runner.timeout = 120
    assert gone(pid)
    runner.capture(tiny_backbone, tiny_inputs())
    assert runner.pid not in (None, pid)


def _children() -> list[int]:
    try:
        import psutil
    except ImportError:
        return []
    return [child.pid for child in psutil.Process().children()]


def test_close_and_exit_leave_no_child():
    with _new_runner() as runner:
        runner.start()
        pid = runner.pid
        assert not gone(pid)
    assert gone(pid)  # exited and reaped: not even a zombie
    assert pid not in _children()
    runner.close()  # twice is fine


def test_garbage_collection_stops_the_worker():
    runner = _new_runner().start()
    pid = runner.pid
    del runner
    gc.collect()
    assert gone(pid)


def test_interpreter_exit_stops_the_worker():
    script = textwrap.dedent(
        f"""
        from distil_explorer.runtime.runner import Runner
        runner = Runner({BACKEND!r}, isolate=True, timeout=120).start()
        print(runner.pid, flush=True)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert gone(int(done.stdout.split()[-1]))


def test_worker_that_cannot_start_says_why(monkeypatch):
    environment = process.worker_environment

    def broken(backend):  # keras refuses a backend it does not know
        return {**environment(backend), "KERAS_BACKEND": "no_such_backend"}

    monkeypatch.setattr(process, "worker_environment", broken)
    runner = _new_runner()
    with pytest.raises(WorkerError, match="ValueError during start-up") as info:
        runner.start()
    assert "Unable to import backend : no_such_backend" in str(info.value)
    assert "Traceback (most recent call last)" in info.value.worker_traceback
    assert runner.pid is None


# Fault injection: SIGKILL before, during and after a request; SIGSTOP.


def test_worker_killed_just_before_a_request_is_restarted_silently(
    runner, tiny_backbone
):
    # No wait between the kill and the call: the dead worker may still look
    # alive for a moment (its pipes close as it is torn down).
    for _ in range(2):
        runner.start()
        pid = runner.pid
        os.kill(pid, signal.SIGKILL)
        trace = runner.capture(tiny_backbone, tiny_inputs())
        assert trace.attentions.shape[0] == 2
        assert runner.pid not in (None, pid)


def test_worker_gone_after_the_write_but_before_reading_is_restarted(
    runner, tiny_backbone, monkeypatch
):
    runner.capture(tiny_backbone, tiny_inputs())
    first = runner.pid
    real_write = process.write_frame
    calls = []

    def write_then_die(stream, message):
        # Stopped, the worker cannot read the request before it is killed:
        # exactly "died just before the request", without a race.
        if not calls:
            os.kill(first, signal.SIGSTOP)
        calls.append(message["op"])
        real_write(stream, message)
        if len(calls) == 1:
            os.kill(first, signal.SIGKILL)

    monkeypatch.setattr(process, "write_frame", write_then_die)
    trace = runner.capture(tiny_backbone, tiny_inputs())  # no WorkerError
    expected = capture(tiny_backbone, tiny_inputs())
    np.testing.assert_allclose(trace.attentions, expected.attentions, atol=1e-5)
    assert len(calls) >= 2  # sent again to the new worker
    assert runner.pid not in (None, first) and gone(first)


def test_worker_killed_during_a_request_raises_and_the_next_call_works(
    runner, tiny_backbone, monkeypatch
):
    from distil_explorer import DistilBertBackbone

    # Long enough (hundreds of ms in the worker) that the kill right after
    # the acknowledgement always lands before the reply is written.
    slow = DistilBertBackbone(20, 4, 2, 256, 1024, dropout=0.0, max_sequence_length=256)
    long_inputs = tiny_inputs(batch=8, length=256)
    runner.capture(slow, long_inputs)
    pid = runner.pid
    real_receive = process.WorkerProcess._receive

    def kill_after_ack(self, timeout, what, ack=False, last=True):
        reply = real_receive(self, timeout, what, ack=ack, last=last)
        if ack and reply is not None:  # it has read the request: mid-request
            os.kill(self.pid, signal.SIGKILL)
        return reply

    monkeypatch.setattr(process.WorkerProcess, "_receive", kill_after_ack)
    with pytest.raises(WorkerError, match=r"exited with code -9 during capture"):
        runner.capture(slow, long_inputs)
    monkeypatch.undo()
    assert gone(pid)
    runner.capture(tiny_backbone, tiny_inputs())
    assert runner.pid not in (None, pid)


def test_worker_killed_after_a_reply_is_restarted_silently(runner, tiny_backbone):
    runner.capture(tiny_backbone, tiny_inputs())
    pid = runner.pid
    os.kill(pid, signal.SIGKILL)
    runner.capture(tiny_backbone, tiny_inputs(seed=1))  # no wait, no error
    assert runner.pid not in (None, pid) and gone(pid)


def test_stopped_worker_times_out_and_is_replaced(runner, tiny_backbone):
    runner.capture(tiny_backbone, tiny_inputs())
    pid = runner.pid
    os.kill(pid, signal.SIGSTOP)
    runner.timeout = 1.0
    try:
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=r"timeout=1.0: .* gave no answer"):
            runner.capture(tiny_backbone, tiny_inputs())
        assert time.monotonic() - started < 5
    finally:
        runner.timeout = 120
    assert _wait_until(lambda: gone(pid))  # a stopped process is killed too
    runner.capture(tiny_backbone, tiny_inputs())
    assert runner.pid not in (None, pid)


def test_worker_inputs_and_flags_are_checked_in_the_parent(runner, tiny_backbone):
    pid = runner.start().pid
    ragged = {"token_ids": [[1, 2, 3], [4]], "padding_mask": [[1, 1, 1], [1]]}
    with pytest.raises(ValueError, match=r"token_ids: ragged rows"):
        runner.capture(tiny_backbone, ragged)
    with pytest.raises(ValueError, match=r"keep_qk='no': not a bool"):
        runner.capture(tiny_backbone, tiny_inputs(), keep_qk="no")
    assert runner.pid == pid  # the worker never saw them
