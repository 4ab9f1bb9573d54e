"""The worker: a process that runs Keras on one backend for a `Runner`.

Started as `python -m distil_explorer.runtime.worker` with KERAS_BACKEND set
(see `distil_explorer.runtime.process`). It talks over its stdin and stdout
in frames (`write_frame`: lengths, a pickle, its arrays' raw bytes). Anything
else the process prints goes to stderr, so a stray print cannot corrupt a
frame.

Messages (dicts with an "op"):
- worker -> parent, once at start: `ready` {pid, backend} or `error`.
- parent -> worker: `capture` {key, model, inputs, device, options}. The
  worker answers `received` as soon as it has read a request, then the reply.
  `options` holds `capture`'s keyword arguments (keep_qk, layers, heads,
  norms).
  `model` is None
  when the parent thinks the worker already holds `key`; the worker then
  answers `need_model` if it does not, and the parent sends it again with
  `model`: ("preset", str) or ("backbone", config dict, {path: array}).
- worker -> parent: `trace` {fields of a Trace, arrays as numpy; seconds the
  capture took in the worker} or `error`
  {type, module, message, traceback, pickled}.
End of stdin means the parent is done (or gone): the worker exits.

The helpers `build_model`, `capture_on` and `ModelCache` also serve the
in-process path of `Runner`, so both paths build and run models alike.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pickle
import signal
import struct
import sys
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, BinaryIO

# Two base-size float32 backbones are about 530 MB; older ones are dropped.
MODEL_CACHE_SIZE = 2
# What the worker answers first to every request, as soon as it has read it:
# a worker that exits before this one has lost nothing and is restarted.
RECEIVED = "received"


def write_frame(stream: BinaryIO, message: Any) -> None:
    """Write `message` as one frame and flush it.

    A frame is: the pickle's length and its number of out-of-band buffers,
    each buffer's length (8-byte big-endian integers), the pickle, the raw
    buffers. Pickle protocol 5 leaves numpy arrays' memory out of the pickle,
    so a Trace or a model's weights are written straight from the arrays and
    read straight into new ones: about 4x faster than an in-band pickle.
    """
    buffers: list[pickle.PickleBuffer] = []
    header = pickle.dumps(message, protocol=5, buffer_callback=buffers.append)
    raws = [buffer.raw() for buffer in buffers]
    sizes = [len(header), len(raws), *(raw.nbytes for raw in raws)]
    stream.write(struct.pack(f">{len(sizes)}Q", *sizes))
    stream.write(header)
    for raw in raws:
        stream.write(raw)
    stream.flush()


def read_frame(stream: BinaryIO) -> Any:
    """Read one frame written by `write_frame`; EOFError at end of stream."""
    header_size, count = struct.unpack(">2Q", _read_exactly(stream, 16))
    sizes = struct.unpack(f">{count}Q", _read_exactly(stream, 8 * count))
    header = _read_exactly(stream, header_size)
    buffers = [_read_exactly(stream, size) for size in sizes]
    return pickle.loads(header, buffers=buffers)


def _read_exactly(stream: BinaryIO, size: int) -> bytearray:
    buffer = bytearray(size)
    view, done = memoryview(buffer), 0
    while done < size:
        got = stream.readinto(view[done:])
        if not got:
            raise EOFError("stream closed")
        done += got
    return buffer


class ModelCache:
    """The last few models built, by key, least recently used dropped first."""

    def __init__(self, size: int = MODEL_CACHE_SIZE):
        self.size = size
        self._models: OrderedDict[Any, Any] = OrderedDict()

    def get(self, key: Any) -> Any:
        model = self._models.get(key)
        if model is not None:
            self._models.move_to_end(key)
        return model

    def put(self, key: Any, model: Any) -> None:
        self._models[key] = model
        self._models.move_to_end(key)
        while len(self._models) > self.size:
            self._models.popitem(last=False)

    def get_or_build(self, key: Any, build: Callable[[], Any]) -> Any:
        model = self.get(key)
        if model is None:
            model = build()
            self.put(key, model)
        return model

    def clear(self) -> None:
        self._models.clear()


def device_scope(device: str | None):
    """`keras.device(device)` on this process's backend; None: Keras chooses."""
    if device is None:
        return contextlib.nullcontext()
    import keras

    from distil_explorer.runtime.devices import keras_device_name

    return keras.device(keras_device_name(keras.backend.backend(), device))


def build_model(spec: tuple, device: str | None):
    """Build a backbone from a model spec, its variables placed on `device`.

    Args:
        spec: ("preset", preset) or ("backbone", config, {variable path: array}).
        device: str or None. Where the variables live.
    """
    from distil_explorer.model.backbone import DistilBertBackbone
    from distil_explorer.weights.assign import assign_weights

    with device_scope(device):
        if spec[0] == "preset":
            return DistilBertBackbone.from_preset(spec[1])
        _, config, weights = spec
        backbone = DistilBertBackbone.from_config(config)
        assign_weights(backbone, weights, source="Runner weights")
        return backbone


def capture_on(backbone, inputs: dict, device: str | None, **options: Any):
    """`distil_explorer.capture(backbone, inputs, **options)` under `keras.device`."""
    from distil_explorer.trace import capture

    with device_scope(device):
        return capture(backbone, inputs, **options)


def error_reply(exc: BaseException) -> dict:
    """Describe an exception for the parent, pickling it when the parent can rebuild it.

    Only builtin and distil_explorer exception types travel as objects: a
    framework's own (jax's XlaRuntimeError...) would make the parent import
    that framework to unpickle it; those arrive as a `WorkerError` instead.
    """
    kind = type(exc)
    pickled = None
    if kind.__module__ == "builtins" or kind.__module__.startswith("distil_explorer"):
        try:
            pickled = pickle.dumps(exc)  # a traceback is never pickled
        except Exception:
            pickled = None
    return {
        "op": "error",
        "type": kind.__qualname__,
        "module": kind.__module__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(kind, exc, exc.__traceback__)),
        "pickled": pickled,
    }


def _capture_reply(message: dict, models: ModelCache) -> dict:
    key = (message["key"], message["device"])
    backbone = models.get(key)
    if backbone is None:
        if message["model"] is None:
            return {"op": "need_model"}
        backbone = build_model(message["model"], message["device"])
        models.put(key, backbone)
    start = time.perf_counter()
    options = message.get("options") or {}
    trace = capture_on(backbone, message["inputs"], message["device"], **options)
    seconds = time.perf_counter() - start
    # Every field, so a Trace rebuilt in the parent is the same Trace.
    fields = {f.name: getattr(trace, f.name) for f in dataclasses.fields(trace)}
    return {"op": "trace", "trace": fields, "seconds": seconds}


def _claim_stdio() -> tuple[BinaryIO, BinaryIO]:
    # The frames keep the real stdout; fd 1 (print, C libraries) now goes to
    # stderr, so nothing else can write into the frame stream.
    frames_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return sys.stdin.buffer, frames_out


def main() -> int:
    """Serve capture requests on stdin/stdout until stdin closes."""
    frames_in, frames_out = _claim_stdio()
    # Ctrl-C in a terminal reaches the whole process group; the parent
    # decides what an interrupt means (it stops this worker).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import keras

        import distil_explorer.trace  # noqa: F401
    except BaseException as exc:
        write_frame(frames_out, error_reply(exc))
        return 1
    ready = {"op": "ready", "pid": os.getpid(), "backend": keras.backend.backend()}
    write_frame(frames_out, ready)
    models = ModelCache()
    while True:
        try:
            message = read_frame(frames_in)
        except EOFError:
            return 0
        write_frame(frames_out, {"op": RECEIVED})
        try:
            if message.get("op") != "capture":
                raise ValueError(f"op={message.get('op')!r}: allowed: 'capture'")
            reply = _capture_reply(message, models)
        except Exception as exc:
            reply = error_reply(exc)
        write_frame(frames_out, reply)


if __name__ == "__main__":
    code = main()
    # Skip interpreter teardown (a second or more with jax or tensorflow
    # loaded): this process holds nothing that needs saving.
    sys.stderr.flush()
    os._exit(code)
