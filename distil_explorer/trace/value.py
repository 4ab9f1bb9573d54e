"""`Trace`, the one value every view reads (`capture` makes it).

A Trace is plain numpy: everything downstream of it (analysis, plots,
widgets, reports) never imports keras, and can be tested with a hand-made
Trace.
"""

from __future__ import annotations

import dataclasses
import os
import reprlib
from pathlib import Path
from typing import Any

import numpy as np

from distil_explorer._internal.frozen import freeze_arrays
from distil_explorer.checks import (
    checked_heads,
    checked_held,
    checked_index,
    checked_selection,
)
from distil_explorer.trace.file import OPTIONAL, read_trace, write_trace


@dataclasses.dataclass(frozen=True, eq=False)
class Trace:
    """Everything one forward pass of a backbone showed, as numpy arrays.

    Attributes:
        hidden_states: float32 (num_layers + 1, B, T, hidden_dim). Index 0 is
            the embeddings output, index i the output of layer i.
        attentions: float32 (num_layers, B, num_heads, T, T). Softmax
            probabilities; padding keys are exactly 0 and each query row sums
            to 1 over the real keys.
        token_ids: int32 (B, T).
        padding_mask: int32 (B, T), 1 for real tokens and 0 for padding.
        config: the backbone's constructor arguments (`get_config()` values).
        backend: the Keras backend it ran on ("torch", "jax", ...).
        device: the device it ran on ("cpu", "cuda:0", ...).
        tokens: the token strings per row, when the input was text.
        queries, keys: float32 (len(attention_layers), B,
            len(attention_heads), T, head_dim), the unscaled query and key
            vectors, when captured with keep_qk=True.
        attention_layers: tuple of int. The model layers that `attentions`
            (and `queries`, `keys`) hold, in order along axis 0: all of them
            unless `capture(..., layers=...)` chose some.
        attention_heads: tuple of int. The heads they hold along axis 2: all
            of them unless `capture(..., heads=...)` chose some.
        attention_norms: float32, the shape of `attentions`, when captured
            with norms=True: `alpha_ij * ||f_h(x_j)||`, the length of what
            key j adds to query i's output in head h, with `f_h(x) =
            (x W_V^h + b_V^h) W_O^h` (Kobayashi et al. 2020). Padding keys
            are exactly 0; rows do not sum to 1.
        ablated_heads: tuple of (layer, head). The heads whose output was
            set to 0 for this run (`capture(..., ablate=...)`); () for the
            plain model.

    Examples:
    ```python
    trace = distil_explorer.capture(backbone, inputs)
    trace.attentions[2, 0, 5]  # layer 2, first sequence, head 5: (T, T)
    trace.attention(layer=2, head=5)  # the same map, by model indices
    trace.save("trace.npz"); Trace.load("trace.npz")
    ```
    """

    hidden_states: np.ndarray
    attentions: np.ndarray
    token_ids: np.ndarray
    padding_mask: np.ndarray
    config: dict[str, Any]
    backend: str
    device: str
    tokens: tuple[tuple[str, ...], ...] | None = None
    queries: np.ndarray | None = None
    keys: np.ndarray | None = None
    attention_layers: tuple[int, ...] | None = None
    attention_heads: tuple[int, ...] | None = None
    attention_norms: np.ndarray | None = None
    ablated_heads: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.config, dict):
            raise ValueError(
                f"config={reprlib.repr(self.config)}: not a dict; allowed: the "
                "backbone's get_config() values"
            )
        for name in ("backend", "device"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(
                    f"{name}={getattr(self, name)!r}: not a str; allowed: a name "
                    'such as "torch" or "cpu"'
                )
        arrays = {
            "hidden_states": np.asarray(self.hidden_states, dtype=np.float32),
            "attentions": np.asarray(self.attentions, dtype=np.float32),
            "token_ids": np.asarray(self.token_ids, dtype=np.int32),
            "padding_mask": np.asarray(self.padding_mask, dtype=np.int32),
        }
        layers = arrays["hidden_states"].shape[0] - 1
        held = _held(
            "attention_layers", self.attention_layers, arrays["attentions"], 0, layers
        )
        # A hand-made Trace may not say how many heads its model had.
        heads = self.config.get("num_heads")
        held_heads = _held(
            "attention_heads", self.attention_heads, arrays["attentions"], 2, heads
        )
        object.__setattr__(self, "attention_layers", held)
        object.__setattr__(self, "attention_heads", held_heads)
        _check_shapes(**arrays, held_layers=len(held))
        for name in OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                arrays[name] = np.asarray(value, dtype=np.float32)
                if name == "attention_norms":
                    _check_norms(arrays[name], arrays["attentions"].shape)
                    continue
                want = arrays["attentions"].shape[:4]
                if arrays[name].ndim != 5 or arrays[name].shape[:4] != want:
                    raise ValueError(
                        f"{name} shape={arrays[name].shape}: allowed: "
                        f"(*{want}, head_dim), like attentions"
                    )
        freeze_arrays(self, arrays)
        object.__setattr__(self, "config", dict(self.config))
        ablated = checked_heads(
            "ablated_heads", self.ablated_heads, layers, self.num_heads
        )
        object.__setattr__(self, "ablated_heads", ablated)
        if self.tokens is not None:
            tokens = tuple(tuple(str(t) for t in row) for row in self.tokens)
            batch, length = arrays["token_ids"].shape
            if len(tokens) != batch or any(len(row) != length for row in tokens):
                raise ValueError(
                    f"tokens: {len(tokens)} rows do not match token_ids shape "
                    f"{(batch, length)}; allowed: one string per token id"
                )
            object.__setattr__(self, "tokens", tokens)

    @property
    def num_layers(self) -> int:
        """Layers of the model that ran (hidden_states holds num_layers + 1)."""
        return self.hidden_states.shape[0] - 1

    @property
    def num_heads(self) -> int:
        """Heads per layer of the model that ran.

        From `config`; a hand-made Trace without it counts up to the last
        head it holds.
        """
        if "num_heads" in self.config:
            return int(self.config["num_heads"])
        return max(self.attention_heads, default=-1) + 1

    @property
    def has_all_attention(self) -> bool:
        """Whether `attentions` holds every layer and head, in model order."""
        return self.attention_layers == tuple(
            range(self.num_layers)
        ) and self.attention_heads == tuple(range(self.num_heads))

    def attention_position(self, layer: int, head: int) -> tuple[int, int]:
        """Where model `layer` and `head` sit on axes 0 and 2 of `attentions`.

        Raises:
            ValueError: naming the layers or heads this Trace holds, when
                `layer` or `head` was not captured.
        """
        return (
            checked_held("layer", layer, self.attention_layers, "layers"),
            checked_held("head", head, self.attention_heads, "heads"),
        )

    def attention(self, layer: int, head: int, index: int = 0) -> np.ndarray:
        """The (T, T) map of model `layer` and `head` for sequence `index`.

        Rows are queries and columns keys, padding included (its columns are
        exactly 0).
        """
        position, head_position = self.attention_position(layer, head)
        index = checked_index("index", index, self.token_ids.shape[0])
        return self.attentions[position, index, head_position]

    def select(self, layers: Any = None, heads: Any = None) -> Trace:
        """A Trace holding only the maps of `layers` x `heads` (model indices).

        For keeping less of a Trace you have, before saving or sending it;
        `capture(..., layers=, heads=)` never computes the rest at all.

        Args:
            layers: None, int or list of int, among `attention_layers`
                (negative counts from the model's last layer); None keeps
                the layers held now.
            heads: the same for heads, among `attention_heads`.

        Examples:
        ```python
        small = trace.select(layers=[-1], heads=[0, 1])
        small.attentions.shape  # (1, B, 2, T, T)
        ```
        """
        positions = []
        for name, value, held, stop in (
            ("layers", layers, self.attention_layers, self.num_layers),
            ("heads", heads, self.attention_heads, self.num_heads),
        ):
            chosen = held if value is None else checked_selection(name, value, stop)
            missing = [i for i in chosen if i not in held]
            if missing:
                raise ValueError(
                    f"{name}={value!r}: {missing} not in this Trace; allowed: "
                    f"among {list(held)}"
                )
            positions.append([held.index(i) for i in chosen])
        picked = np.ix_(positions[0], range(self.token_ids.shape[0]), positions[1])
        optional = {
            name: getattr(self, name)[picked]
            for name in OPTIONAL
            if getattr(self, name) is not None
        }
        return dataclasses.replace(
            self,
            attentions=self.attentions[picked],
            **optional,
            attention_layers=tuple(self.attention_layers[i] for i in positions[0]),
            attention_heads=tuple(self.attention_heads[i] for i in positions[1]),
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write this Trace to an `.npz` file; `Trace.load` reads it back exactly.

        The file is written to a temporary name and renamed into place, so an
        interrupted save never leaves a half-written file at `path`; its
        folder must exist.

        Examples:
        ```python
        trace.save("trace.npz")
        ```
        """
        return write_trace(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Trace:
        """Read a Trace written by `Trace.save`.

        Nothing in the file is unpickled. Anything that is not such a file
        (truncated, damaged, a plain numpy .npz, another format version)
        raises `TraceFileError` naming the path and, when known, the field.

        Examples:
        ```python
        trace = Trace.load("trace.npz")
        ```
        """
        return read_trace(cls, path)


def _held(name: str, value, attentions: np.ndarray, axis: int, stop: int | None):
    """`value` as a checked tuple of model indices; None means all of them.

    `stop`: how many the model has, or None when the Trace does not say.
    """
    if value is None:
        return tuple(range(attentions.shape[axis] if attentions.ndim == 5 else 0))
    held = tuple(value)
    limit = np.inf if stop is None else stop
    if not all(isinstance(i, (int, np.integer)) and 0 <= i < limit for i in held) or (
        list(held) != sorted(set(held))
    ):
        within = ">= 0" if stop is None else f"in 0..{stop - 1}"
        raise ValueError(
            f"{name}={value!r}: allowed: increasing, distinct indices {within}"
        )
    if attentions.ndim == 5 and len(held) != attentions.shape[axis]:
        raise ValueError(
            f"{name}={value!r}: {len(held)} indices but attentions holds "
            f"{attentions.shape[axis]} on axis {axis}; allowed: one index per map"
        )
    return tuple(int(i) for i in held)


def _check_norms(norms: np.ndarray, want: tuple[int, ...]) -> None:
    if norms.shape != want:
        raise ValueError(
            f"attention_norms shape={norms.shape}: allowed: {want}, the shape "
            "of attentions"
        )


def _check_shapes(
    hidden_states, attentions, token_ids, padding_mask, held_layers
) -> None:
    if token_ids.ndim != 2 or padding_mask.shape != token_ids.shape:
        raise ValueError(
            f"token_ids shape={token_ids.shape}, padding_mask shape="
            f"{padding_mask.shape}: allowed: both (B, T)"
        )
    batch, length = token_ids.shape
    if hidden_states.ndim != 4 or hidden_states.shape[1:3] != (batch, length):
        raise ValueError(
            f"hidden_states shape={hidden_states.shape}: allowed: "
            f"(num_layers + 1, {batch}, {length}, hidden_dim)"
        )
    if attentions.ndim != 5 or (
        attentions.shape[:2] != (held_layers, batch)
        or attentions.shape[3:] != (length, length)
    ):
        raise ValueError(
            f"attentions shape={attentions.shape}: allowed: "
            f"({held_layers}, {batch}, heads, {length}, {length})"
        )
