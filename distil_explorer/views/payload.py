"""The Trace payload: what the canvas receives once per Trace, as plain numpy.

Every view the canvas draws (a head, the visible heads overlaid, the mean
over heads or layers, the model view's thumbnails, pins, sum or mean) is
derived in the browser from these bytes (static/scene.js), and by
`views/scene.py` in Python for the static export, from the same bytes.
The byte fields and their dtypes are in static/contract.json.

- `maps`: uint8 (len(maps_layers), heads, n, n), each map scaled to its
  largest value (`maps_scale`, float32): value = byte * scale / 255.
  Every layer held while n <= `all_layers_up_to` (256); beyond, only the
  layer shown (a layer switch sends that layer's maps again).
- `small`: uint8 (layers, heads, t, t), t <= 64, every map downsampled,
  for the model view (`small_scale` as `maps_scale`).
- `layer_mean`: uint8 (heads, n, n): each head's mean over every layer,
  only when `maps` holds one layer (the "mean over layers" view).
- A context-mixing weighting ("value_zeroing", "alti", from a
  `ContextMixing` of the Trace's inputs) has one map per layer: `maps`,
  `small` and `layer_mean` hold 1 where they hold heads
  (`payload_info["mixing"]` names the method), and `rollout`: uint8
  (len(maps_layers), n, n), R_l of each layer sent. Empty otherwise.

Bytes per Trace of a base model (6 layers x 12 heads, one weighting):
T=128: 1.18 MB + 0.29 MB; T=256: 4.7 MB + 0.29 MB; T=512: one layer 3.1 MB,
layer means 3.1 MB, thumbnails 0.29 MB, 6.6 MB in all (`payload_bytes`).
"""

from __future__ import annotations

import itertools
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from distil_explorer.views.contract import CONTRACT
from distil_explorer.views.encoding import downsample_maps, to_uint8
from distil_explorer.views.view_state import Shown
from distil_explorer.views.weighting import MIXING, mixings_of, weighted

if TYPE_CHECKING:
    from distil_explorer.trace import Trace

ALL_LAYERS_UP_TO = CONTRACT["payload"]["all_layers_up_to"]
THUMBNAIL = CONTRACT["payload"]["thumbnail"]
BYTE_FIELDS = tuple(CONTRACT["payload"]["bytes"])
# The traits (and report fields) the payload fills.
PAYLOAD_TRAITS = ("tokens", "layers", "heads", "payload_info", *BYTE_FIELDS)
EMPTY: dict[str, Any] = {
    "tokens": [],
    "layers": [],
    "heads": [],
    "payload_info": {},
    **{name: b"" for name in BYTE_FIELDS},
}


def real_positions(trace: Trace, index: int) -> np.ndarray:
    """Positions of sequence `index` that are real tokens (padding dropped).

    Examples:
    ```python
    real_positions(trace, 0)  # array([0, 1, 2, 3])
    ```
    """
    return np.flatnonzero(trace.padding_mask[index])


def real_index(real: np.ndarray) -> slice | np.ndarray:
    """`real` (increasing positions) as a slice when it is one run, for views.

    Examples:
    ```python
    real_index(np.array([2, 3, 4]))  # slice(2, 5)
    ```
    """
    if real.size and real[-1] - real[0] + 1 == real.size:
        return slice(int(real[0]), int(real[-1]) + 1)
    return real


def sequence_tokens(trace: Trace, index: int, real: np.ndarray) -> list[str]:
    """The tokens of sequence `index` at `real` (their ids where it has no text).

    Examples:
    ```python
    sequence_tokens(trace, 0, real_positions(trace, 0))  # ['[CLS]', 'the', ...]
    ```
    """
    if trace.tokens is not None:
        return [trace.tokens[index][i] for i in real]
    return [str(trace.token_ids[index, i]) for i in real]


def quantized_maps(maps: Any) -> tuple[np.ndarray, np.ndarray]:
    """uint8 maps, each (last two axes) scaled to its maximum, and float32 maxima.

    A value is `byte * top / 255`, within `top / 510`.

    Examples:
    ```python
    values, top = quantized_maps(np.array([[[0.0, 0.5], [0.25, 0.25]]]))
    values, top  # ([[[0, 255], [128, 128]]], [0.5])
    ```
    """
    maps = np.asarray(maps, dtype=np.float32)
    top = maps.max(axis=(-2, -1)) if maps.size else np.zeros(maps.shape[:-2])
    return to_uint8(maps, axes=(-2, -1)), np.asarray(top, dtype="<f4")


def trace_payload(
    trace: Trace,
    index: int = 0,
    weighting: str = "weights",
    layer: int | None = None,
    all_layers: bool | None = None,
    mixing: Any = None,
) -> dict[str, Any]:
    """Everything the canvas draws sequence `index` of `trace` from.

    Args:
        trace: the Trace.
        index: int. The sequence of its batch.
        weighting: str. "weights", "norms" (`Trace.attention_norms`), or
            "value_zeroing" / "alti" (from `mixing`).
        layer: int or None. The layer shown, sent whole when not every
            layer is (None: the first held).
        all_layers: bool or None. Send every layer's maps; None: while
            n <= ALL_LAYERS_UP_TO (the HTML report sends them all).
        mixing: a `ContextMixing` of the Trace's inputs (or several), for a
            mixing weighting.

    Examples:
    ```python
    payload = trace_payload(trace)
    payload["payload_info"]["n"], len(payload["maps"])  # (9, 6 * 12 * 81)
    ```
    """
    source, rollout = _maps_source(trace, weighting, mixing)
    real = real_positions(trace, index)
    keep = real_index(real)
    n = int(real.size)
    held = list(trace.attention_layers)
    layer = held[0] if layer is None else layer
    if all_layers is None:
        all_layers = n <= ALL_LAYERS_UP_TO
    sent = held if all_layers else [layer]
    maps = np.stack(
        [source[held.index(at), index][:, keep, :][..., keep] for at in sent]
    )
    values, scale = quantized_maps(maps)
    thumbs = np.stack(
        [
            downsample_maps(maps_of[index][:, keep, :][..., keep], THUMBNAIL)
            for maps_of in source
        ]
    )
    small, small_scale = quantized_maps(thumbs)
    payload = {
        "tokens": sequence_tokens(trace, index, real),
        "layers": held,
        "heads": list(trace.attention_heads),
        "maps": values.tobytes(),
        "maps_scale": scale.tobytes(),
        "small": small.tobytes(),
        "small_scale": small_scale.tobytes(),
        "layer_mean": b"",
        "layer_mean_scale": b"",
        "rollout": b"",
        "rollout_scale": b"",
    }
    if rollout is not None:
        rolled = np.stack(
            [rollout[held.index(at), index][keep][:, keep] for at in sent]
        )
        values, scale = quantized_maps(rolled)
        payload.update(rollout=values.tobytes(), rollout_scale=scale.tobytes())
    if not all_layers:
        mean = _layer_mean(source[:, index], keep)
        values, scale = quantized_maps(mean)
        payload.update(layer_mean=values.tobytes(), layer_mean_scale=scale.tobytes())
    payload["payload_info"] = {
        "n": n,
        "maps_layers": sent,
        "small_side": int(thumbs.shape[-1]),
        "weighting": weighting,
        "index": index,
        # Heads this run switched off (capture(..., ablate=...)), marked on
        # every view.
        "ablated": [list(pair) for pair in trace.ablated_heads],
        "mixing": weighting if rollout is not None else "",
    }
    return payload


def _maps_source(trace: Trace, weighting: str, mixing: Any):
    """(maps (layers held, B, heads or 1, T, T), rollout (layers, B, T, T) or None)."""
    if weighting not in MIXING:
        return weighted(trace, weighting).attentions, None
    found = mixings_of(mixing, trace).get(weighting)
    if found is None:
        raise ValueError(
            f"weighting={weighting!r}: needs mixing=context_mixing(backbone, "
            f"inputs, method={weighting!r}) of the Trace's inputs; allowed: that, "
            "or 'weights'"
        )
    held = list(trace.attention_layers)
    return found.per_layer[held][:, :, None], found.rollout[held]


def _layer_mean(maps: np.ndarray, keep) -> np.ndarray:
    """(heads, n, n) mean over layers of (layers, heads, T, T), one layer at a
    time (no copy of every map at T=512)."""
    total = np.zeros(maps.shape[1:], dtype=np.float64)
    for layer_maps in maps:
        total += layer_maps
    return (total / len(maps))[:, keep, :][..., keep]


def payload_bytes(payload: dict[str, Any]) -> int:
    """Bytes of the payload's byte fields (what a Trace costs to send).

    Examples:
    ```python
    payload_bytes(trace_payload(trace))  # 1_474_560 for a base model at T=128
    ```
    """
    return sum(len(payload[name]) for name in BYTE_FIELDS)


@dataclass(frozen=True)
class Arrays:
    """A payload's bytes as float64 arrays, value = byte * scale / 255.

    `maps` is (len(maps_layers), heads, n, n); `small` (layers, heads, t, t)
    as bytes (uint8: the thumbnails' contrast is per map); `layer_mean`
    (heads, n, n) or None; `ablated` the (layer, head) pairs switched off.
    A mixing payload (`mixing` names its method) holds 1 map where they hold
    heads, and `rollout` (len(maps_layers), n, n).
    """

    tokens: tuple[str, ...]
    layers: tuple[int, ...]
    heads: tuple[int, ...]
    maps_layers: tuple[int, ...]
    maps: np.ndarray
    small: np.ndarray
    layer_mean: np.ndarray | None
    ablated: tuple[tuple[int, int], ...] = ()
    mixing: str = ""
    rollout: np.ndarray | None = None


def decoded(payload: dict[str, Any]) -> Arrays:
    """The payload's values, computed as scene.js computes them (float64).

    Examples:
    ```python
    decoded(trace_payload(trace)).maps.shape  # (6, 12, n, n)
    ```
    """
    info = payload["payload_info"]
    mixing = info.get("mixing", "")
    n, heads = info["n"], 1 if mixing else len(payload["heads"])
    sent = tuple(info["maps_layers"])

    def values(name: str, shape: tuple[int, ...]) -> np.ndarray:
        data = np.frombuffer(payload[name], dtype="u1").reshape(shape)
        scale = np.frombuffer(payload[f"{name}_scale"], dtype="<f4")
        scale = scale.astype(np.float64).reshape(shape[:-2] + (1, 1))
        return data.astype(np.float64) * scale / 255.0

    t = info["small_side"]
    small = np.frombuffer(payload["small"], dtype="u1")
    mean = rollout = None
    if payload["layer_mean"]:
        mean = values("layer_mean", (heads, n, n))
    if mixing:
        rollout = values("rollout", (len(sent), n, n))
    return Arrays(
        tokens=tuple(payload["tokens"]),
        layers=tuple(payload["layers"]),
        heads=tuple(payload["heads"]),
        maps_layers=sent,
        maps=values("maps", (len(sent), heads, n, n)),
        small=small.reshape(len(payload["layers"]), heads, t, t),
        layer_mean=mean,
        ablated=tuple((int(a), int(b)) for a, b in info.get("ablated", ())),
        mixing=mixing,
        rollout=rollout,
    )


NO_MIXING = (
    "not computed for this Trace: pass mixing=context_mixing(backbone, inputs, "
    "method=...) of its inputs"
)
_COUNT = itertools.count(1)
_NUMBERS: dict[int, tuple[weakref.ref, int]] = {}


def trace_number(trace: Trace) -> int:
    """A number per Trace object (the same Trace, the same number), for `Shown.trace`.

    Examples:
    ```python
    trace_number(trace) == trace_number(trace)  # True
    ```
    """
    entry = _NUMBERS.get(id(trace))
    if entry is not None and entry[0]() is trace:
        return entry[1]
    number = next(_COUNT)
    _NUMBERS[id(trace)] = (weakref.ref(trace), number)
    return number


def shown_of(
    trace: Trace | None,
    index: int = 0,
    trace_id: int = 0,
    has_tokenizer: bool = True,
    num_heads: int | None = None,
    mixing: tuple[str, ...] = (),
    mixing_note: str = "",
    task_targets: tuple[tuple[str, str], ...] = (),
) -> Shown:
    """What `trace` (sequence `index`) offers the choices, as `reconcile` takes it.

    `mixing`: the context-mixing weightings it can be drawn with (held, or
    computable where it runs); `mixing_note`: why the others are off;
    `task_targets`: the attribution targets of the task head built.

    Examples:
    ```python
    reconcile(state, shown_of(trace, 0, trace_id=1))
    reconcile(state, shown_of(trace, 0, 1, mixing=("alti",)))
    ```
    """
    mixing = tuple(m for m in MIXING if m in mixing)
    if len(mixing) < len(MIXING) and not mixing_note:
        mixing_note = NO_MIXING
    if trace is None:
        return Shown(
            num_heads=num_heads or 0,
            has_tokenizer=has_tokenizer,
            mixing_note=mixing_note or "no Trace yet: run first",
            task_targets=task_targets,
        )
    index = index if 0 <= index < trace.token_ids.shape[0] else 0
    real = real_positions(trace, index)
    return Shown(
        layers=tuple(trace.attention_layers),
        heads=tuple(trace.attention_heads),
        num_heads=trace.num_heads if num_heads is None else num_heads,
        tokens=tuple(sequence_tokens(trace, index, real)),
        batch=int(trace.token_ids.shape[0]),
        has_norms=trace.attention_norms is not None,
        has_tokenizer=has_tokenizer,
        trace=trace_id,
        mixing=mixing,
        mixing_note=mixing_note,
        task_targets=task_targets,
    )
