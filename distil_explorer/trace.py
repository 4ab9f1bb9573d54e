"""`Trace`, the one value every view reads, and `capture`, which makes it.

A Trace is plain numpy: everything downstream of it (analysis, plots,
widgets, reports) never imports keras, and can be tested with a hand-made
Trace.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

_ARRAYS = ("hidden_states", "attentions", "token_ids", "padding_mask")
_OPTIONAL = ("queries", "keys")
_FORMAT = "distil-explorer-trace/1"


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
        queries, keys: float32 (num_layers, B, num_heads, T, head_dim), the
            unscaled query and key vectors, when captured with keep_qk=True.

    Examples:
    ```python
    trace = distil_explorer.capture(backbone, inputs)
    trace.attentions[2, 0, 5]  # layer 2, first sequence, head 5: (T, T)
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

    def __post_init__(self) -> None:
        arrays = {
            "hidden_states": np.asarray(self.hidden_states, dtype=np.float32),
            "attentions": np.asarray(self.attentions, dtype=np.float32),
            "token_ids": np.asarray(self.token_ids, dtype=np.int32),
            "padding_mask": np.asarray(self.padding_mask, dtype=np.int32),
        }
        _check_shapes(**arrays)
        for name in _OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                arrays[name] = np.asarray(value, dtype=np.float32)
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
        return self.attentions.shape[0]

    @property
    def num_heads(self) -> int:
        return self.attentions.shape[2]

    def save(self, path: str | os.PathLike) -> Path:
        """Write this Trace to an `.npz` file; `Trace.load` reads it back exactly.

        The file is written to a temporary name and renamed into place, so an
        interrupted save never leaves a half-written file at `path`.
        """
        path = Path(path)
        if path.suffix != ".npz":
            raise ValueError(f"path={str(path)!r}: allowed: a file name ending in .npz")
        meta = {
            "format": _FORMAT,
            "config": self.config,
            "backend": self.backend,
            "device": self.device,
            "tokens": self.tokens,
        }
        arrays = {name: getattr(self, name) for name in _ARRAYS}
        arrays.update(
            {n: getattr(self, n) for n in _OPTIONAL if getattr(self, n) is not None}
        )
        fd, tmp = tempfile.mkstemp(dir=path.parent or ".", suffix=".npz.part")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Trace:
        """Read a Trace written by `Trace.save`."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != _FORMAT:
                raise ValueError(
                    f"path={str(path)!r}: not a distil-explorer trace "
                    f"(format={meta.get('format')!r}); allowed: files from Trace.save"
                )
            arrays = {name: data[name] for name in _ARRAYS}
            arrays.update({n: data[n] for n in _OPTIONAL if n in data.files})
        return cls(
            **arrays,
            config=meta["config"],
            backend=meta["backend"],
            device=meta["device"],
            tokens=meta["tokens"],
        )


def _check_shapes(hidden_states, attentions, token_ids, padding_mask) -> None:
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
    layers = hidden_states.shape[0] - 1
    if attentions.ndim != 5 or (
        attentions.shape[:2] != (layers, batch)
        or attentions.shape[3:] != (length, length)
    ):
        raise ValueError(
            f"attentions shape={attentions.shape}: allowed: "
            f"({layers}, {batch}, num_heads, {length}, {length})"
        )


def capture(
    backbone, inputs: Any, *, tokenizer: Any = None, keep_qk: bool = False
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

    Examples:
    ```python
    trace = capture(backbone, {"token_ids": ids, "padding_mask": mask})
    trace.hidden_states[-1]  # equals backbone(inputs) to 1e-5
    trace = capture(backbone, "The cat sat.", tokenizer=tokenizer)
    trace.tokens  # (("[CLS]", "the", "cat", "sat", ".", "[SEP]"),)
    ```
    """
    from distil_explorer.model.capture import run_capture

    tokens = None
    if _is_text(inputs):
        if tokenizer is None:
            raise ValueError(
                "inputs: text needs a tokenizer; allowed: capture(backbone, text, "
                "tokenizer=DistilBertTokenizer.from_preset(...)) or a dict of "
                "token_ids and padding_mask"
            )
        inputs = tokenizer.encode_at_most(inputs, backbone.max_sequence_length)
    if hasattr(inputs, "inputs") and hasattr(inputs, "tokens"):  # an Encoding
        tokens, inputs = inputs.tokens, inputs.inputs
    trace = run_capture(backbone, inputs, Trace, keep_qk=keep_qk)
    if tokens is not None:
        trace = dataclasses.replace(trace, tokens=tokens)
    return trace


def _is_text(inputs: Any) -> bool:
    if isinstance(inputs, str):
        return True
    return (
        isinstance(inputs, (list, tuple))
        and len(inputs) > 0
        and all(isinstance(t, str) for t in inputs)
    )
