"""What the attention canvas reads, as plain numpy: one encoder for every page.

`static/attention.js` draws from a handful of values (`tokens`, `maps`,
`head_map`, `head_maps`, `view_map`, ...). The notebook's `AttentionWidget`
syncs them as traits and the offline HTML report embeds them; both compute
them here, so the two never disagree. No widget library is imported.

Every function reads a `Trace` and one sequence of it (`index`), with its
padding dropped: `real` is `real_positions(trace, index)`. Layers and heads
are model indices among those the Trace holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from distil_explorer.checks import checked_index
from distil_explorer.views.encoding import downsample_maps, encode, to_uint8
from distil_explorer.views.weighting import weighted

if TYPE_CHECKING:
    from distil_explorer.trace import Trace

AGGREGATES = ("head", "mean_heads", "mean_layers")
MODES = ("head", "model")
# While a layer's maps are this many bytes or fewer (12 heads up to T=408), all
# its heads are sent, so that head toggles need no kernel; beyond, only the
# visible ones (a thumbnail click at T=512 sends one head, not 3 MB).
ALL_HEADS_BYTES = 2_000_000


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


def contrast_uint8(maps: Any, percentile: float = 95.0) -> np.ndarray:
    """uint8 maps, each (last two axes) scaled so its `percentile`-th value is 255.

    Values above that percentile saturate at 255; a map whose percentile is 0
    (almost all zeros) is scaled to its maximum instead. `percentile=100`
    scales every map to its own maximum. This is how model-view thumbnails
    keep their structure when one column (say [CLS]) holds most of the weight.

    Examples:
    ```python
    contrast_uint8(np.array([[[0.0, 0.1], [0.2, 0.9]]]), 50)  # 0.15 -> 255
    ```
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim < 2 or maps.size == 0:
        return np.zeros(maps.shape, dtype=np.uint8)
    flat = maps.reshape(*maps.shape[:-2], -1)
    top = np.percentile(flat, percentile, axis=-1)
    top = np.where(top > 0, top, flat.max(axis=-1))[..., None, None]
    scale = np.divide(255.0, top, out=np.zeros_like(top), where=top > 0)
    return np.rint(np.minimum(maps * scale, 255.0)).astype(np.uint8)


def thumbnails(
    trace: Trace, index: int, real: np.ndarray, size: int = 64, percentile: float = 95.0
) -> np.ndarray:
    """uint8 (layers held, heads held, t, t), t <= `size`, each map contrast-normalised.

    Examples:
    ```python
    thumbnails(trace, 0, real_positions(trace, 0), size=64).shape  # (6, 12, 64, 64)
    ```
    """
    # One layer at a time, and a view where the real tokens are one run (the
    # usual case): a copy of every unpadded map at T=512 is ~75 MB and costs
    # more than the downsampling itself.
    keep = real_index(real)
    layers = [
        downsample_maps(held[index][:, keep, :][..., keep], size)
        for held in trace.attentions
    ]
    return contrast_uint8(np.stack(layers), percentile)


def sequence_payload(
    trace: Trace, index: int, real: np.ndarray, size: int = 64, percentile: float = 95.0
) -> dict[str, Any]:
    """`tokens`, `maps` (uint8 thumbnails as bytes) and `maps_shape`.

    Examples:
    ```python
    sequence_payload(trace, 0, real_positions(trace, 0))["maps_shape"]  # [6, 12, 9, 9]
    ```
    """
    thumbs = thumbnails(trace, index, real, size, percentile)
    return {
        "tokens": sequence_tokens(trace, index, real),
        "maps": thumbs.tobytes(),
        "maps_shape": list(thumbs.shape),
    }


def head_array(
    trace: Trace, layer: int, head: int, index: int, real: np.ndarray
) -> np.ndarray:
    """float32 (n, n) attention of (`layer`, `head`), padding dropped.

    Examples:
    ```python
    head_array(trace, 2, 5, 0, real_positions(trace, 0)).sum(-1)  # ones
    ```
    """
    keep = real_index(real)
    attn = trace.attention(layer, head, index)
    return np.asarray(attn[keep, :][:, keep], dtype=np.float32)


def head_map_payload(
    trace: Trace, layer: int, head: int, index: int, real: np.ndarray
) -> dict[str, Any]:
    """`head_map` (exact float32 bytes of one head) and `head_map_of` ([layer, head]).

    Examples:
    ```python
    head_map_payload(trace, 2, 5, 0, real)["head_map_of"]  # [2, 5]
    ```
    """
    values = head_array(trace, layer, head, index, real)
    return {"head_map": encode(values)["data"], "head_map_of": [layer, head]}


def heads_to_send(
    heads: list[int], visible: list[int], n: int, limit: int = ALL_HEADS_BYTES
) -> list[int]:
    """Every held head while a layer of them fits in `limit` bytes, else `visible`.

    Examples:
    ```python
    heads_to_send([0, 1, 2], [1], n=512, limit=2_000_000)  # [1]
    ```
    """
    if len(heads) * n * n <= limit:
        return list(heads)
    return list(visible)


def layer_maps(
    trace: Trace, layer: int, index: int, real: np.ndarray, heads: list[int]
) -> np.ndarray:
    """(len(heads), n, n) maps of `layer`, padding dropped (a view where it can).

    Examples:
    ```python
    layer_maps(trace, 2, 0, real, [0, 5]).shape  # (2, n, n)
    ```
    """
    maps = trace.attentions[trace.attention_layers.index(layer), index]
    if list(heads) != list(trace.attention_heads):  # else a view, no copy
        maps = maps[[trace.attention_heads.index(h) for h in heads]]
    keep = real_index(real)
    return maps[:, keep, :][..., keep]


def quantized_maps(maps: Any) -> tuple[np.ndarray, np.ndarray]:
    """uint8 maps, each (last two axes) scaled to its maximum, and float32 maxima.

    A value is `byte * top / 255`, within `top / 510`.

    Examples:
    ```python
    values, top = quantized_maps(np.array([[[0.0, 0.5], [0.25, 0.25]]]))
    values, top  # ([[[0, 255], [128, 128]]], [0.5])
    ```
    """
    maps = np.asarray(maps)
    top = maps.max(axis=(-2, -1)) if maps.size else np.zeros(maps.shape[:-2])
    return to_uint8(maps, axes=(-2, -1)), np.asarray(top, dtype=np.float32)


def layer_payload(maps: Any, layer: int, heads: list[int]) -> dict[str, Any]:
    """`head_maps` (uint8 bytes) with its `_scale`, `_heads` and `_layer`.

    Args:
        maps: (len(heads), n, n), as `layer_maps` gives.
        layer: int. The layer they are of.
        heads: list of ints. The heads they are, in order.

    Examples:
    ```python
    layer_payload(layer_maps(trace, 2, 0, real, [0, 5]), 2, [0, 5])["head_maps_heads"]
    ```
    """
    values, top = quantized_maps(maps)
    return {
        "head_maps": values.tobytes(),
        "head_maps_scale": encode(top)["data"],
        "head_maps_heads": list(heads),
        "head_maps_layer": layer,
    }


def view_key(aggregate: str, layer: int, visible: list[int]) -> str:
    """What a mean view averages, as `view_map_of` says it ('' for one head).

    Examples:
    ```python
    view_key("mean_heads", 2, [0, 5])  # 'mean_heads:2:0,5'
    ```
    """
    heads = ",".join(str(h) for h in visible)
    if aggregate == "mean_heads":
        return f"mean_heads:{layer}:{heads}"
    if aggregate == "mean_layers":
        return f"mean_layers:{heads}"
    return ""


def mean_map(
    trace: Trace,
    index: int,
    real: np.ndarray,
    aggregate: str,
    layer: int,
    visible: list[int],
) -> np.ndarray:
    """float32 (n, n) mean of `visible` heads of `layer` ("mean_heads") or of
    every layer held ("mean_layers"), padding dropped.

    Examples:
    ```python
    mean_map(trace, 0, real, "mean_heads", 2, [0, 5])  # (maps[2, 0] + maps[2, 5]) / 2
    ```
    """
    held = trace.attention_heads
    positions = [held.index(h) for h in visible]
    if aggregate == "mean_layers":
        layers = range(len(trace.attention_layers))
    else:
        layers = [trace.attention_layers.index(layer)]
    # Summed map by map: no copy of every map at once (75 MB at T=512).
    total = np.zeros(trace.attentions.shape[-2:], dtype=np.float64)
    for at in layers:
        for position in positions:
            total += trace.attentions[at, index, position]
    keep = real_index(real)
    count = len(layers) * len(positions)
    return (total[keep, :][:, keep] / count).astype(np.float32)


def view_payload(
    trace: Trace,
    index: int,
    real: np.ndarray,
    aggregate: str,
    layer: int,
    visible: list[int],
) -> dict[str, Any]:
    """`view_map` (float32 bytes of `mean_map`) and `view_map_of` (its `view_key`);
    empty for `aggregate="head"`.

    Examples:
    ```python
    view_payload(trace, 0, real, "mean_layers", 2, [0])["view_map_of"]
    # 'mean_layers:0'
    ```
    """
    key = view_key(aggregate, layer, visible)
    if not key:
        return {"view_map": b"", "view_map_of": ""}
    values = mean_map(trace, index, real, aggregate, layer, visible)
    return {"view_map": encode(values)["data"], "view_map_of": key}


def canvas_state(
    trace: Trace,
    index: int = 0,
    layer: int | None = None,
    head: int | None = None,
    visible_heads: list[int] | None = None,
    aggregate: str = "head",
    mode: str = "head",
    thumbnail_size: int = 64,
    thumbnail_percentile: float = 95.0,
    weighting: str = "weights",
) -> dict[str, Any]:
    """Every value the canvas reads, as `AttentionWidget.from_trace` syncs them.

    `layer` and `head` are model indices the Trace holds; None: the first held.
    `visible_heads` (None: every head) must hold `head` when both are given;
    with `head` None, the visible head nearest the first held is focused, as
    the widget does. `weighting`: "weights" or "norms" (the Trace's
    `attention_norms`, each map scaled to its own maximum as the weights are).

    Examples:
    ```python
    state = canvas_state(trace, layer=2, head=5, aggregate="mean_heads")
    state["view_map_of"]  # 'mean_heads:2:0,1,2,3,4,5,6,7,8,9,10,11'
    ```
    """
    index = checked_index("index", index, trace.attentions.shape[1])
    has_norms = trace.attention_norms is not None
    trace = weighted(trace, weighting)
    layers, heads = list(trace.attention_layers), list(trace.attention_heads)
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate={aggregate!r}: allowed: {list(AGGREGATES)}")
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: allowed: {list(MODES)}")
    layer = layers[0] if layer is None else layer
    trace.attention_position(layer, heads[0] if head is None else head)
    visible = heads if visible_heads is None else list(visible_heads)
    if not visible or len(set(visible)) != len(visible) or not set(visible) <= {*heads}:
        raise ValueError(
            f"visible_heads={visible_heads}: allowed: a non-empty list of distinct "
            f"heads among {heads}"
        )
    visible = sorted(visible)
    if head is None:
        head = min(visible, key=lambda h: (abs(h - heads[0]), h))
    elif head not in visible:
        raise ValueError(
            f"head={head}: not among visible_heads={visible}; allowed: one of them"
        )
    real = real_positions(trace, index)
    state: dict[str, Any] = {
        "index": index,
        "num_layers": trace.num_layers,
        "num_heads": trace.num_heads,
        "layers": layers,
        "heads": heads,
        "layer": layer,
        "head": head,
        "visible_heads": visible,
        "aggregate": aggregate,
        "mode": mode,
        "weighting": weighting,
        "has_norms": has_norms,
        "thumbnail_percentile": thumbnail_percentile,
        **sequence_payload(trace, index, real, thumbnail_size, thumbnail_percentile),
        **head_map_payload(trace, layer, head, index, real),
        "head_maps": b"",
        "head_maps_scale": b"",
        "head_maps_heads": [],
        "head_maps_layer": -1,
        "view_map": b"",
        "view_map_of": "",
    }
    if mode == "head":
        n = len(real)
        sent = heads_to_send(heads, visible, n)
        maps = layer_maps(trace, layer, index, real, sent)
        state.update(layer_payload(maps, layer, sent))
        state.update(view_payload(trace, index, real, aggregate, layer, visible))
    return state
