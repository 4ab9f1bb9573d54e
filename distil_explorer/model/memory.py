"""How many bytes a capture, a corpus batch or an attribution will hold, asked first.

Arithmetic on a model's config and the input's shape only: this module
imports neither keras nor a framework, so the config form, the session and
the analysis side can ask it too. It sits in `model/` because the numbers
are the model's (its layers' activations, its maps); it is no top-level
feature of its own.

Work estimated above what this process can get (`model.memory_limit`:
free memory, a container's or RLIMIT_AS limit, `set_memory_limit`) raises
`NotEnoughMemoryError` before anything is allocated, saying how much, what
for, and the way out; an allocation that fails anyway (torch's
`DefaultCPUAllocator`, numpy's `MemoryError`, a device out of memory) is
raised as the same error (`guarded`).

The estimates count float32 bytes of what is kept (maps, hidden states,
norms) plus the backend's activations of one layer at a time; on a small
model, where maps dominate, they are 1.1x-1.7x a capture's measured peak
and 1.0x-1.2x that of integrated gradients (tests/model/test_memory.py
holds them to 0.9x-2x and 0.8x-1.6x).

Examples:
```python
from distil_explorer.model import memory
memory.capture_estimate(base_config, batch=48, length=512).text()
# '6.0 GB (attention maps 3.6 GB, hidden states 528 MB, ...)'
```
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterator, Mapping
from typing import Any

from distil_explorer.errors import NotEnoughMemoryError
from distil_explorer.model.memory_limit import available_memory, size_text

_FLOAT = 4  # float32: what a Trace holds and what the layers run in
_FIELDS = ("num_layers", "num_heads", "hidden_dim", "intermediate_dim")
# Messages of allocations that failed, from the frameworks that raise them as
# RuntimeError (torch on CPU and CUDA, jax/XLA), perhaps through a worker.
_ALLOCATOR = re.compile(
    r"DefaultCPUAllocator|out of memory|RESOURCE_EXHAUSTED|bad_alloc|"
    r"Unable to allocate|Cannot allocate memory",
    re.IGNORECASE,
)


@dataclasses.dataclass(frozen=True)
class MemoryEstimate:
    """Bytes some work will hold at its peak, part by part.

    Attributes:
        parts: tuple of (what, bytes), e.g. ("attention maps", 1811939328).

    Examples:
    ```python
    MemoryEstimate((("attention maps", 2**30),)).text()
    # '1.1 GB (attention maps 1.1 GB)'
    ```
    """

    parts: tuple[tuple[str, int], ...]

    @property
    def total(self) -> int:
        return sum(size for _, size in self.parts)

    def text(self) -> str:
        shown = ", ".join(f"{what} {size_text(size)}" for what, size in self.parts)
        return f"{size_text(self.total)} ({shown})"


def capture_estimate(
    config: Mapping[str, Any],
    batch: int,
    length: int,
    *,
    layers: int | None = None,
    heads: int | None = None,
    keep_qk: bool = False,
    norms: bool = False,
) -> MemoryEstimate:
    """What `capture` holds at its peak for `batch` sequences of `length` tokens.

    Args:
        config: the backbone's numbers (`num_layers`, `num_heads`,
            `hidden_dim`, `intermediate_dim`), a dict or the backbone.
        batch, length: the input's (B, T).
        layers, heads: how many layers and heads keep their maps (None: all).
        keep_qk, norms: as `capture` takes them.

    Examples:
    ```python
    capture_estimate(base_config, 48, 512, norms=True).total  # about 9.6e9
    ```
    """
    n_layers, n_heads, hidden, inner = _numbers(config)
    layers = n_layers if layers is None else layers
    heads = n_heads if heads is None else heads
    maps = layers * batch * heads * length * length * _FLOAT
    parts = [
        ("attention maps", maps),
        ("hidden states", (n_layers + 1) * batch * length * hidden * _FLOAT),
    ]
    if norms:
        parts.append(("norm-weighted maps", maps))
    if keep_qk:
        parts.append(
            (
                "queries and keys",
                2 * layers * batch * heads * length * hidden // n_heads * _FLOAT,
            )
        )
    one_layer = batch * n_heads * length * length * _FLOAT
    if heads < n_heads or (layers < n_layers and length <= 128):
        parts.append(("a scratch layer of maps", one_layer))
    parts.append(
        (
            "one layer's activations",
            _layer_activations(batch, length, n_heads, hidden, inner),
        )
    )
    return MemoryEstimate(tuple(parts))


def corpus_batch_estimate(
    config: Mapping[str, Any], batch: int, length: int, *, norms: bool = False
) -> MemoryEstimate:
    """A corpus batch: its capture, plus the sums' per-layer work on the maps.

    Examples:
    ```python
    corpus_batch_estimate(base_config, 32, 128).text()
    ```
    """
    n_layers, n_heads, _, _ = _numbers(config)
    captured = capture_estimate(config, batch, length, norms=norms)
    one_layer = batch * n_heads * length * length * _FLOAT
    # batch_sums makes about three (B, heads, T, T) temporaries per layer
    # (x log x, its product, the far-left mask); norms normalize every map.
    parts = [*captured.parts, ("the statistics' work", 3 * one_layer)]
    if norms:
        parts.append(("normalized norm maps", n_layers * one_layer))
    return MemoryEstimate(tuple(parts))


def attribution_estimate(
    config: Mapping[str, Any],
    batch: int,
    length: int,
    *,
    sequences: int,
    maps: bool = False,
) -> MemoryEstimate:
    """Gradients through the backbone for `sequences` sequences at once.

    For integrated gradients `sequences` is batch x the steps run together
    (all of them, or a chunk's); for the other methods it is `batch`.
    Backpropagation keeps every layer's activations: about
    T x (10 hidden + 3 intermediate) floats per layer and sequence where
    attention is fused (torch's SDPA keeps no (T, T) maps for its backward
    pass), plus 5 heads x T x T with `maps` (the maps, their shifts and
    gradients: attention x gradient, or a backend that materializes them).

    Examples:
    ```python
    attribution_estimate(base_config, 1, 128, sequences=32).text()
    ```
    """
    n_layers, n_heads, hidden, inner = _numbers(config)
    per_layer = length * (10 * hidden + 3 * inner)
    if maps:
        per_layer += 5 * n_heads * length * length
    kept = sequences * n_layers * per_layer * _FLOAT
    inputs = 4 * sequences * length * hidden * _FLOAT  # scaled inputs, grads
    return MemoryEstimate(
        (
            ("activations kept for the backward pass", kept),
            ("path inputs and their gradients", inputs),
        )
    )


def check_memory(estimate: MemoryEstimate, what: str, way_out: str) -> None:
    """Raise `NotEnoughMemoryError` if `estimate` is more than this process can get.

    Args:
        estimate: the work's `MemoryEstimate`.
        what: the work and its size, e.g. "capture(B=48, T=512)".
        way_out: what to ask for instead, e.g. "layers= or heads=, ...".

    Examples:
    ```python
    check_memory(capture_estimate(config, 48, 512), "capture(B=48, T=512)", "layers=")
    ```
    """
    available, source = available_memory()
    if available is not None and estimate.total > available:
        raise NotEnoughMemoryError(
            f"{what}: needs about {estimate.text()}, more than the "
            f"{size_text(max(available, 0))} this process can get ({source}); "
            f"allowed: {way_out}",
            needed=estimate.total,
            available=available,
        )


@contextlib.contextmanager
def guarded(estimate: MemoryEstimate, what: str, way_out: str) -> Iterator[None]:
    """`check_memory` first; an allocation that fails inside becomes the same error.

    Examples:
    ```python
    with guarded(capture_estimate(config, 8, 128), "capture(B=8, T=128)", "layers="):
        trace = run_capture(...)
    ```
    """
    check_memory(estimate, what, way_out)
    try:
        yield
    except NotEnoughMemoryError:
        raise
    except (MemoryError, RuntimeError) as error:
        if isinstance(error, RuntimeError) and not _ALLOCATOR.search(str(error)):
            raise
        available, source = available_memory()
        first = (str(error).strip().splitlines() or [""])[0][:200]
        can_get = (
            ""
            if available is None
            else (f"; this process could get {size_text(max(available, 0))} ({source})")
        )
        raise NotEnoughMemoryError(
            f"{what}: ran out of memory (estimated {size_text(estimate.total)}"
            f"{can_get}; {type(error).__name__}: {first}); allowed: {way_out}",
            needed=estimate.total,
            available=available,
        ) from error


def capture_guard(
    config: Any,
    shape: Any,
    *,
    layers: int | None = None,
    heads: int | None = None,
    keep_qk: bool = False,
    norms: bool = False,
    shorter: str = "shorter sequences",
):
    """`guarded` for a capture of inputs of `shape` (B, T); a no-op without one.

    Inputs the model refuses anyway (not (B, T), longer than its
    `max_sequence_length`) are left to its own checks, which say what is
    wrong with them rather than how much memory they would take.

    Examples:
    ```python
    with capture_guard(backbone, (48, 512), norms=True):
        trace = run_capture(backbone, inputs, Trace, norms=True)
    ```
    """
    if shape is None or len(shape) != 2:
        return contextlib.nullcontext()
    batch, length = (int(n) for n in shape)
    if length > _value(config, "max_sequence_length", length):
        return contextlib.nullcontext()
    estimate = capture_estimate(
        config,
        batch,
        length,
        layers=layers,
        heads=heads,
        keep_qk=keep_qk,
        norms=norms,
    )
    way_out = [
        "layers= or heads= (keep fewer maps)",
        "fewer sequences",
        shorter,
    ]
    way_out += ["norms=False"] if norms else []
    way_out += ["keep_qk=False"] if keep_qk else []
    what = f"capture(B={batch}, T={length})"
    return guarded(estimate, what, ", ".join(way_out))


def attribution_guard(
    config: Any,
    shape: Any,
    method: str,
    steps: int,
    chunk: int | None = None,
    backend: str = "torch",
):
    """`guarded` for `attribute` on inputs of `shape` (B, T).

    Integrated gradients runs `steps` path points per sequence, `chunk` of
    them at once when it runs in chunks (None: all at once); the other
    methods one backward pass. Maps are counted for attention x gradient,
    and on every backend but torch (whose fused attention keeps none).

    Examples:
    ```python
    with attribution_guard(backbone, (1, 128), "integrated_gradients", 32):
        found = token_attributions(...)
    ```
    """
    batch, length = (int(n) for n in shape)
    together = min(steps, chunk or steps) if method == "integrated_gradients" else 1
    maps = method == "attention_x_gradient" or backend != "torch"
    estimate = attribution_estimate(
        config, batch, length, sequences=batch * together, maps=maps
    )
    at_once = f", steps={steps} ({together} at once)" if together > 1 else ""
    what = f"attribute({method!r}, B={batch}, T={length}{at_once})"
    way_out = "shorter or fewer texts" + (
        ", fewer steps" if method == "integrated_gradients" else ""
    )
    return guarded(estimate, what, way_out)


def input_shape(inputs: Any) -> tuple[int, ...] | None:
    """The shape of `inputs["token_ids"]` (an array, tensor or nested list), or None."""
    try:
        ids = inputs["token_ids"]
    except (KeyError, TypeError, IndexError):
        return None
    shape = getattr(ids, "shape", None)
    if shape is None:
        try:
            shape = (len(ids), len(ids[0]))
        except (TypeError, IndexError, KeyError):
            return None
    return tuple(int(n) for n in shape)


def _numbers(config: Any) -> tuple[int, int, int, int]:
    return tuple(int(_value(config, name)) for name in _FIELDS)


def _value(config: Any, name: str, *default: Any) -> Any:
    """`config[name]` of a dict, `config.name` of a backbone."""
    if isinstance(config, Mapping):
        return config.get(name, *default) if default else config[name]
    return getattr(config, name, *default)


def _layer_activations(
    batch: int, length: int, heads: int, hidden: int, inner: int
) -> int:
    # One (B, heads, T, T) block of scores (the probabilities go where the
    # maps are kept), the projections, context and residuals (about
    # 8 x (B, T, hidden)) and the feed-forward layer's two (B, T, inner).
    maps = batch * heads * length * length
    return (maps + batch * length * (8 * hidden + 2 * inner)) * _FLOAT
