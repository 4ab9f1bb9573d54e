"""`Trace`, the one value every view reads, and `capture`, which makes it.

A Trace is plain numpy: everything downstream of it (analysis, plots,
widgets, reports) never imports keras, and can be tested with a hand-made
Trace.
"""

from __future__ import annotations

import dataclasses
import json
import os
import reprlib
from pathlib import Path
from typing import Any

import numpy as np

from distil_explorer.atomic_write import checked_path, write_file
from distil_explorer.checks import checked_held, checked_index, checked_selection

_ARRAYS = ("hidden_states", "attentions", "token_ids", "padding_mask")
_OPTIONAL = ("queries", "keys", "attention_norms")
FORMAT = "distil-explorer-trace/1"


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
        for name in _OPTIONAL:
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
        for name, array in arrays.items():
            # A read-only view freezes the Trace without copying (attention at
            # T=512 is tens of MB) and without touching the caller's array.
            view = array.view()
            view.flags.writeable = False
            object.__setattr__(self, name, view)
        object.__setattr__(self, "config", dict(self.config))
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
            for name in _OPTIONAL
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
        path = checked_path("path", path)
        if path.suffix != ".npz":
            raise ValueError(f"path={str(path)!r}: allowed: a file name ending in .npz")
        meta = {
            "format": FORMAT,
            "config": self.config,
            "backend": self.backend,
            "device": self.device,
            "tokens": self.tokens,
            "attention_layers": self.attention_layers,
            "attention_heads": self.attention_heads,
        }
        arrays = {name: getattr(self, name) for name in _ARRAYS}
        arrays.update(
            {n: getattr(self, n) for n in _OPTIONAL if getattr(self, n) is not None}
        )
        text = np.array(json.dumps(meta))
        return write_file(path, lambda f: np.savez(f, meta=text, **arrays))

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
        from distil_explorer.trace_file import read_trace

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


def capture(
    backbone,
    inputs: Any,
    *,
    tokenizer: Any = None,
    keep_qk: bool = False,
    layers: Any = None,
    heads: Any = None,
    norms: bool = False,
) -> Trace:
    """Run `backbone` once and return every hidden state and attention map.

    The capture path runs the backbone's own layers (same variables, no
    copy), computing attention probabilities explicitly where the plain call
    uses fused attention. Inference mode: dropout is off.

    Args:
        backbone: a `DistilBertBackbone`.
        inputs: `{"token_ids": (B, T) ints, "padding_mask": (B, T) 0/1}` as
            numpy arrays, lists or backend tensors; or text (a string or a
            list of strings) together with `tokenizer`; or an `Encoding`.
        tokenizer: a `DistilBertTokenizer`, needed for text. Texts longer
            than the backbone's `max_sequence_length` are truncated.
        keep_qk: bool. Also keep every layer's query and key vectors
            (`Trace.queries`, `Trace.keys`), for the query/key view.
        layers: None, int or list of int. The layers whose attention maps
            to keep (negative counts from the end); None keeps all. Hidden
            states are always kept for every layer: they grow with T, the
            maps with T squared.
        heads: None, int or list of int. The heads to keep in each kept
            layer; None keeps all. At T=512 the base model's maps are 75 MB
            per sequence; `layers=[-1], heads=[0]` keeps 1 MB.
        norms: bool. Also keep `Trace.attention_norms`, the norm-weighted
            maps of the same layers and heads (Kobayashi et al. 2020),
            computed in the same pass from each layer's own value heads and
            output kernel, in float32; 5-15% more time (benchmarks/norms.py).

    Raises:
        NotEnoughMemoryError: the maps, hidden states and activations it
            would hold (`model.memory.capture_estimate`) are more than this
            process can get (`set_memory_limit`), checked before anything is
            allocated; or an allocation failed anyway.

    Examples:
    ```python
    trace = capture(backbone, {"token_ids": ids, "padding_mask": mask})
    trace.hidden_states[-1]  # equals backbone(inputs) to 1e-5
    trace = capture(backbone, "The cat sat.", tokenizer=tokenizer)
    trace.tokens  # (("[CLS]", "the", "cat", "sat", ".", "[SEP]"),)
    trace = capture(backbone, inputs, layers=[0, 5], heads=[3])
    trace.attention_layers, trace.attentions.shape[0]  # (0, 5), 2
    trace = capture(backbone, inputs, norms=True)
    trace.attention_norms.shape == trace.attentions.shape  # True
    ```
    """
    from distil_explorer.model.capture import run_capture
    from distil_explorer.model.memory import capture_guard, input_shape

    keep_qk = checked_flag("keep_qk", keep_qk)
    norms = checked_flag("norms", norms)
    tokens, inputs = tokens_and_inputs(
        inputs,
        tokenizer,
        backbone.max_sequence_length,
        "capture(backbone, text, tokenizer=DistilBertTokenizer.from_preset(...))",
    )
    # Asked before anything is allocated (model/memory.py); an allocation
    # that fails anyway is raised as the same NotEnoughMemoryError.
    with capture_guard(
        backbone,
        input_shape(inputs),
        layers=len(checked_selection("layers", layers, backbone.num_layers)),
        heads=len(checked_selection("heads", heads, backbone.num_heads)),
        keep_qk=keep_qk,
        norms=norms,
    ):
        return run_capture(
            backbone,
            inputs,
            Trace,
            keep_qk=keep_qk,
            layers=layers,
            heads=heads,
            tokens=tokens,
            norms=norms,
        )


def tokens_and_inputs(
    inputs: Any, tokenizer: Any, max_length: int, usage: str
) -> tuple[Any, Any]:
    """(token strings or None, token_ids/padding_mask inputs) from what
    `capture` takes: text (tokenized with `tokenizer`, cut to `max_length`),
    an `Encoding`, or a dict. `usage` shows the call text needs.
    """
    inputs = checked_inputs(inputs)
    if _is_text(inputs):
        if tokenizer is None:
            raise ValueError(
                f"inputs: text needs a tokenizer; allowed: {usage} or a dict of "
                "token_ids and padding_mask"
            )
        inputs = tokenizer.encode_at_most(inputs, max_length)
    if hasattr(inputs, "inputs") and hasattr(inputs, "tokens"):  # an Encoding
        return inputs.tokens, inputs.inputs
    return None, inputs


def checked_flag(name: str, value: Any) -> bool:
    """`value` as a bool; anything but True, False (or numpy's) is refused.

    A string such as "no" is truthy: taking it as True would do the
    opposite of what was asked.

    Examples:
    ```python
    checked_flag("keep_qk", True)  # True
    checked_flag("keep_qk", "no")  # ValueError: keep_qk='no': not a bool ...
    ```
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(
            f"{name}={reprlib.repr(value)}: not a bool; allowed: True, False"
        )
    return bool(value)


_INPUTS_ALLOWED = (
    'allowed: text (a str or a list of str) with a tokenizer, {"token_ids": '
    '(B, T) ints, "padding_mask": (B, T) 0/1}, or an Encoding'
)


def checked_inputs(inputs: Any) -> Any:
    """`inputs` with nested lists made arrays; wrong kinds named, not guessed.

    Text stays text, an Encoding stays an Encoding; a dict's `token_ids` and
    `padding_mask` lists become arrays (ragged rows and strings refused by
    name). Shapes, dtypes and values are checked later, by the model.

    Examples:
    ```python
    checked_inputs({"token_ids": [[1, 2]], "padding_mask": [[1, 1]]})
    checked_inputs(["a text", 3])  # ValueError: inputs[1]=3: a int among strings
    ```
    """
    if isinstance(inputs, (list, tuple)):
        kinds = {isinstance(item, str) for item in inputs}
        if kinds == {True, False}:
            i = next(i for i, item in enumerate(inputs) if not isinstance(item, str))
            raise ValueError(
                f"inputs[{i}]={reprlib.repr(inputs[i])}: a "
                f"{type(inputs[i]).__name__} among strings; allowed: a list of "
                "str only (each one a text)"
            )
        if kinds == {False} or not inputs:
            raise ValueError(
                f"inputs={reprlib.repr(inputs)}: a {type(inputs).__name__} of "
                f"{'nothing' if not inputs else 'non-text'}; {_INPUTS_ALLOWED}"
            )
        return inputs
    if isinstance(inputs, dict):
        return {key: _checked_ids(key, value) for key, value in inputs.items()}
    if isinstance(inputs, str) or (
        hasattr(inputs, "inputs") and hasattr(inputs, "tokens")
    ):
        return inputs
    if isinstance(inputs, (bytes, bytearray, int, float, type(None), np.ndarray)):
        raise ValueError(f"inputs={reprlib.repr(inputs)}: {_INPUTS_ALLOWED}")
    return inputs


def _checked_ids(key: Any, value: Any) -> Any:
    """A token_ids / padding_mask value: text and ragged rows refused by name."""
    if isinstance(value, (str, bytes)):
        raise ValueError(
            f"{key}={reprlib.repr(value)}: text where ids belong; allowed: a "
            "(B, T) array of ints, or pass the text itself as inputs with "
            "tokenizer=..."
        )
    if not isinstance(value, (list, tuple)):
        return value
    rows = [row for row in value]
    if any(
        isinstance(t, str)
        for row in rows
        if isinstance(row, (list, tuple))
        for t in row
    ):
        raise ValueError(
            f"{key}={reprlib.repr(value)}: holds strings where ids belong; "
            "allowed: ints, or pass the text as inputs with tokenizer=..."
        )
    lengths = [
        len(row) if isinstance(row, (list, tuple, np.ndarray)) else None for row in rows
    ]
    if len(set(lengths)) > 1:
        raise ValueError(
            f"{key}: ragged rows (lengths {reprlib.repr(lengths)}); allowed: "
            "rows of one length (pad them and mark padding in padding_mask, "
            "or pass text with a tokenizer, which pads)"
        )
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"{key}={reprlib.repr(value)}: not a (B, T) array ({error}); "
            "allowed: rows of ints of one length"
        ) from None


def _is_text(inputs: Any) -> bool:
    if isinstance(inputs, str):
        return True
    return (
        isinstance(inputs, (list, tuple))
        and len(inputs) > 0
        and all(isinstance(t, str) for t in inputs)
    )
