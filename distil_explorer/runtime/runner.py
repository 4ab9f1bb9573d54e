"""`Runner`: capture a Trace on any installed backend and device.

Keras runs one backend per process. This process's backend runs here, under
`keras.device`; any other backend runs in a worker process (see
`distil_explorer.runtime.process`) that stays alive between captures and
holds the models it was sent, so a backbone's weights cross the pipe once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from distil_explorer.checks import checked_flag, checked_inputs
from distil_explorer.model.tensors import device_of, to_numpy
from distil_explorer.runtime.backends import (
    check_backend,
    check_device,
    current_backend,
)
from distil_explorer.runtime.process import WorkerProcess, raise_remote
from distil_explorer.runtime.worker import ModelCache, build_model, device_scope
from distil_explorer.tokenizer import Encoding
from distil_explorer.trace import Trace

_SAMPLES_PER_VARIABLE = 256


@dataclasses.dataclass(frozen=True)
class CallTiming:
    """Where the time of one `Runner.capture` went.

    Attributes:
        total_s: seconds the call took, as the caller saw it.
        capture_s: seconds the capture itself took where it ran; the rest
            is the worker's share (fingerprint, pipe, start-up, sending
            weights), 0 in process.
    """

    total_s: float
    capture_s: float

    @property
    def overhead_s(self) -> float:
        return self.total_s - self.capture_s


class Runner:
    """Runs `capture` on a chosen Keras backend and device.

    The backend this process runs (torch by default) captures in process;
    any other installed backend captures in a worker process started on the
    first call with that KERAS_BACKEND and kept alive until `close()`. A
    worker is sent a backbone's config and weights once; later captures of
    the same, unchanged backbone send only the inputs. A worker that dies is
    started again on the next call; one that does not answer within
    `timeout` is stopped, and the call raises `TimeoutError`. Exceptions
    raised in a worker come back as the same type where it is a builtin or
    a distil_explorer one (else `WorkerError`), with the worker's traceback
    text in `worker_traceback` and as `__cause__`.

    Args:
        backend: str or None. "torch", "jax", "tensorflow" or "numpy"
            (`available_backends()`); None means this process's backend.
        device: str or None. "cpu", "cuda:0", "mps", ...
            (`available_devices(backend)`); None lets Keras choose.
        isolate: bool. Run in a worker even when `backend` is this
            process's own, so a crash or hang cannot take this process down.
        timeout: float or None. Seconds to wait for a worker's answer
            (start-up included) before stopping it; None waits forever.

    Attributes:
        in_process: bool. Whether captures run in this process.
        last_call: `CallTiming` of the last capture, or None.

    Examples:
    ```python
    with Runner("jax") as runner:
        trace = runner.capture(backbone, inputs)  # weights sent once
        trace = runner.capture(backbone, other_inputs)  # inputs only
    trace.backend, trace.device  # ("jax", "cpu")

    Runner(device="cuda:0").capture("distil_bert_base_en_uncased", inputs)
    ```
    """

    def __init__(
        self,
        backend: str | None = None,
        device: str | None = None,
        *,
        isolate: bool = False,
        timeout: float | None = 300.0,
    ):
        self.backend = check_backend(backend)
        self.device = check_device(self.backend, device)
        self.isolate = bool(isolate)
        self.timeout = timeout
        self.in_process = self.backend == current_backend() and not self.isolate
        self._worker = None if self.in_process else WorkerProcess(self.backend)
        self._models = ModelCache()
        self._lock = threading.RLock()
        self._closed = False
        self.last_call: CallTiming | None = None

    @property
    def timeout(self) -> float | None:
        return self._timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not value > 0
        ):
            raise ValueError(
                f"timeout={value!r}: must be a positive number of seconds; "
                "allowed: a float > 0 or None (wait forever)"
            )
        self._timeout = value

    @property
    def pid(self) -> int | None:
        """The worker's process id while it runs; None in process or before start."""
        return None if self._worker is None else self._worker.pid

    def start(self) -> Runner:
        """Start the worker now, so that the first capture does not wait for it.

        Examples:
        ```python
        runner = Runner("jax").start()
        ```
        """
        self._check_open()
        if self._worker is not None:
            with self._lock:
                self._worker.start(self.timeout)
        return self

    def capture(
        self,
        model: Any,
        inputs: dict[str, Any],
        *,
        keep_qk: bool = False,
        layers: Any = None,
        heads: Any = None,
        norms: bool = False,
        ablate: Any = None,
    ) -> Trace:
        """Run `model` once on this runner's backend and device, as `capture` does.

        Args:
            model: a `DistilBertBackbone`, or a preset (a built-in name, a
                `kaggle://` or `hf://` handle, or a local directory) that
                the backend loads itself.
            inputs: `{"token_ids": (B, T) ints, "padding_mask": (B, T) 0/1}`,
                or an `Encoding` from the tokenizer, whose tokens the Trace
                then holds (on every backend).
            keep_qk, layers, heads, norms, ablate: as in `capture`; they travel to
                the worker, so its Trace holds the same fields.

        Examples:
        ```python
        inputs = {"token_ids": ids, "padding_mask": mask}
        trace = Runner("numpy").capture(backbone, inputs)
        trace = Runner("jax").capture(backbone, inputs, layers=[-1], keep_qk=True)
        trace = Runner("numpy").capture(backbone, inputs, norms=True)
        ```
        """
        self._check_open()
        _check_model(model)
        options = {
            "keep_qk": checked_flag("keep_qk", keep_qk),
            "norms": checked_flag("norms", norms),
            "layers": layers,
            "heads": heads,
            "ablate": ablate,
        }
        start = time.perf_counter()
        tokens, inputs = _split_encoding(inputs)
        if self.in_process:
            options["tokens"] = tokens
            trace, seconds = self._capture_here(model, inputs, options), None
        else:
            trace, seconds = self._capture_in_worker(model, inputs, options, tokens)
        total = time.perf_counter() - start
        self.last_call = CallTiming(total, total if seconds is None else seconds)
        return trace

    def _capture_in_worker(
        self, model: Any, inputs: Any, options: dict, tokens: Any
    ) -> tuple[Trace, float]:
        key, spec = _describe(model)
        message = {
            "op": "capture",
            "key": key,
            "model": None,
            "inputs": _inputs_to_numpy(inputs),
            "device": self.device,
            "options": options,
        }
        with self._lock:
            reply = self._worker.request(message, self.timeout)
            if reply.get("op") == "need_model":
                message["model"] = spec()
                reply = self._worker.request(message, self.timeout)
        if reply.get("op") != "trace":
            raise_remote(reply, self.backend, "capture")
        fields = reply["trace"]
        if tokens is not None:  # they never crossed the pipe
            fields["tokens"] = tokens
        return Trace(**fields), reply["seconds"]

    def close(self) -> None:
        """Stop the worker (if any) and drop cached models; the runner is then done."""
        with self._lock:
            self._closed = True
            if self._worker is not None:
                self._worker.stop()
            self._models.clear()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "in process" if self.in_process else f"worker pid={self.pid}"
        return f"Runner(backend={self.backend!r}, device={self.device!r}, {where})"

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(
                f"{self!r}: closed; allowed: a new Runner(backend={self.backend!r})"
            )

    def _capture_here(self, model: Any, inputs: Any, options: dict) -> Trace:
        if isinstance(model, str) or not self._on_device(model):
            key, spec = _describe(model)
            with self._lock:
                model = self._models.get_or_build(
                    key, lambda: build_model(spec(), self.device)
                )
        from distil_explorer.model.capture import run_capture

        with device_scope(self.device):
            return run_capture(model, inputs, Trace, **options)

    def _on_device(self, backbone) -> bool:
        if self.device is None:
            return True
        return device_of(backbone.weights[0].value) == self.device


def _check_model(model: Any) -> None:
    if isinstance(model, str):
        return
    backbone_type = _backbone_type()
    if backbone_type is None or not isinstance(model, backbone_type):
        raise ValueError(
            f"model={type(model).__name__}: not a backbone or preset; allowed: a "
            "DistilBertBackbone, or a preset name, handle or directory (str)"
        )


def _describe(model: Any) -> tuple[str, Callable[[], tuple]]:
    """A key naming `model`'s config and weights, and a builder of its model spec."""
    if isinstance(model, str):
        preset = os.path.abspath(model) if os.path.exists(model) else model
        return f"preset:{preset}", lambda: ("preset", preset)
    return f"backbone:{id(model)}:{_fingerprint(model)}", lambda: backbone_spec(model)


def _backbone_type():
    # A backbone object means keras is imported already; without one, a
    # preset-only parent never has to import keras at all.
    if "keras" not in sys.modules:
        return None
    from distil_explorer.model.backbone import DistilBertBackbone

    return DistilBertBackbone


def backbone_spec(backbone) -> tuple:
    from keras import ops

    weights = {v.path: ops.convert_to_numpy(v.value) for v in backbone.weights}
    return ("backbone", backbone.get_config(), weights)


def _fingerprint(backbone) -> str:
    """Hash of the config and of each variable's identity and contents.

    On torch a tensor counts its in-place writes (`_version`), which makes
    the hash exact and cheap (under 1 ms for a base model). Other backends
    replace a variable's array on assignment (a new id); a strided sample
    of its values also catches most edits that keep the array.
    """
    digest = hashlib.blake2b(digest_size=16)
    config = json.dumps(backbone.get_config(), sort_keys=True, default=str)
    digest.update(config.encode())
    for variable in backbone.weights:
        value = variable.value
        digest.update(f"{variable.path}|{id(value)}|".encode())
        if hasattr(value, "_version"):
            digest.update(f"{value._version}|{value.data_ptr()}|".encode())
        else:
            digest.update(_sample(value).tobytes())
    return digest.hexdigest()


def _sample(value) -> np.ndarray:
    flat = np.asarray(value).reshape(-1)
    step = max(1, flat.size // _SAMPLES_PER_VARIABLE)
    return flat[::step].astype(np.float32)


def _split_encoding(inputs: Any) -> tuple[Any, Any]:
    """(tokens, model inputs): an `Encoding`'s strings apart from its arrays."""
    if isinstance(inputs, Encoding):
        return inputs.tokens, inputs.inputs
    return None, inputs


def _inputs_to_numpy(inputs: Any) -> Any:
    # Framework tensors would make the worker import this process's framework.
    inputs = checked_inputs(inputs)  # ragged lists named here, not by numpy
    if not isinstance(inputs, dict):
        return inputs
    return {name: to_numpy(value) for name, value in inputs.items()}
