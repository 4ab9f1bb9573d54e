"""The exceptions a user of distil-explorer can catch, in one leaf module.

Every one subclasses a builtin (`ValueError`, `OSError`, `RuntimeError`), so
code that already catches those keeps working. Messages read
`argument=value: why; allowed: ...`; file errors start with the file's path.

- `FileFormatError(ValueError, OSError)`: a file we read (config.json,
  metadata.json, a safetensors index, tokenizer.json, vocab.txt, weights, a
  Trace) cannot be parsed or holds the wrong types. `.path` is the file and
  `.field` the JSON key or array name, when known.
- `TraceFileError(FileFormatError)`: a file given to `Trace.load` that is not
  a Trace written by `Trace.save`.
- `WeightsMismatchError(ValueError)`: weights that do not fit the backbone
  (missing, unexpected or misshapen variables).
- `WeightsFileError(WeightsMismatchError, FileFormatError)`: a weights file
  (model.weights.h5, model.safetensors) that is truncated or corrupted.
- `UnsupportedCheckpointError(ValueError)`: a checkpoint whose architecture
  our DistilBERT cannot represent.
- `MissingHeadError(ValueError)`: a preset or checkpoint without the task
  head asked for (a backbone-only preset given to `DistilBertMaskedLM`).
- `WorkerError(RuntimeError)`: a worker process died, could not start, or
  raised a framework's own error.
- `RemoteTraceback(Exception)`: never raised alone; the `__cause__` of an
  error re-raised from a worker, holding the worker's traceback text.
- `PresetNotFoundError(ValueError)`: a preset that names nothing (an unknown
  name, a missing directory or repo).
- `PresetUnreachableError(ConnectionError)`: a preset whose hub cannot be
  reached from here; `.tried` lists each hub tried.
- `PackagedPresetError(FileNotFoundError)`: the package holding an offline
  preset is missing, or its files are not as pinned.
- `NotEnoughMemoryError(MemoryError)`: a capture, corpus batch or
  attribution would hold more memory than this process can get (checked
  before allocating), or an allocation failed anyway. `.needed` and
  `.available` are bytes (None where unknown).

Examples:
```python
from distil_explorer.errors import FileFormatError
try:
    trace = Trace.load("maybe.npz")
except FileFormatError as error:
    print(error.path, error.field, error)
```
"""

from __future__ import annotations


class FileFormatError(ValueError, OSError):
    """A file we read that cannot be parsed or holds the wrong types.

    Attributes:
        path: str or None. The file.
        field: str or None. The JSON key (dotted, e.g. "config.num_heads")
            or array name that is wrong, when known.
    """

    def __init__(self, message: str, path: str | None = None, field: str | None = None):
        super().__init__(message)
        self.path = path
        self.field = field

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __reduce__(self):
        # Rebuilt from its own arguments. Without this, pickling falls back on
        # (ValueError, OSError)'s reducers, and tblib's (which dask installs
        # process-wide) calls ValueError.__new__ on this class and fails.
        message = self.args[0] if self.args else ""
        return type(self), (message, self.path, self.field)


class TraceFileError(FileFormatError):
    """A file given to `Trace.load` that is not a Trace written by `Trace.save`."""


class WeightsMismatchError(ValueError):
    """Weights that do not fit the backbone: missing, unexpected or misshapen."""


class WeightsFileError(WeightsMismatchError, FileFormatError):
    """A weights file (h5, safetensors, pickle) that is truncated or corrupted."""


class UnsupportedCheckpointError(ValueError):
    """A checkpoint whose architecture our DistilBERT cannot represent."""


class MissingHeadError(ValueError):
    """A preset or checkpoint that holds no head of the task asked for.

    The message names what it does hold (its architectures, the heads found).
    """


class WorkerError(RuntimeError):
    """A worker failed: it died, could not start, or raised a framework's own error.

    Attributes:
        backend: the worker's Keras backend.
        worker_traceback: the worker's traceback text, when it raised.
    """

    def __init__(self, message: str, backend: str = "", worker_traceback: str = ""):
        super().__init__(message)
        self.backend = backend
        self.worker_traceback = worker_traceback


class PresetNotFoundError(ValueError):
    """The preset names nothing: an unknown name, a missing directory or repo."""


class PresetUnreachableError(ConnectionError):
    """The preset exists but its hub could not be reached from here.

    `str(error)` is one sentence saying what to do instead; `error.tried`
    holds one line per hub handle that failed, for a folded "details" view;
    `hub` and `reason` name the hub and the network error, when there is one.
    """

    def __init__(
        self,
        message: str,
        tried: tuple[str, ...] = (),
        *,
        hub: str = "the hub",
        reason: str = "no answer",
    ) -> None:
        super().__init__(message)
        self.tried = tried or (message,)
        self.hub, self.reason = hub, reason


class PackagedPresetError(FileNotFoundError):
    """The package holding a preset is missing or its files are not as pinned."""


class RemoteTraceback(Exception):
    """The `__cause__` of an exception re-raised from a worker: its traceback text."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return "\n\nWorker traceback:\n" + self.text


class NotEnoughMemoryError(MemoryError):
    """Work that needs more memory than this process can get.

    Raised before anything is allocated where the estimate is above what is
    available (`distil_explorer.model.memory`), and in place of an allocator's
    own error where an allocation fails anyway. The message's one line says
    how much, what for, and the way out.

    Attributes:
        needed: int. Estimated bytes of the work.
        available: int or None. Bytes this process could get, when known.
    """

    def __init__(self, message: str, needed: int = 0, available: int | None = None):
        super().__init__(message)
        self.needed = needed
        self.available = available

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __reduce__(self):
        # Across a worker pipe or Dask (tblib's reducers) it is rebuilt whole.
        message = self.args[0] if self.args else ""
        return type(self), (message, self.needed, self.available)
