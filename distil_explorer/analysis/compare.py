"""Compare two Traces of the same input: backends, dtypes, presets, configs."""

from __future__ import annotations

import dataclasses

import numpy as np

from distil_explorer.trace import Trace


@dataclasses.dataclass(frozen=True, eq=False)
class TraceDifference:
    """How two Traces of one input differ, over real tokens only.

    Attributes:
        hidden_max: (L + 1,) max |a - b| of each hidden state, or None when the
            widths differ.
        hidden_cosine: (L + 1, B, T) cosine of each token's two states (NaN at
            padding), or None when the widths differ.
        attention_max: (layers, heads) max |a - b| of each head's map, or None
            when the two Traces hold different layers or heads.
        notes: what could not be compared, and why.
        attention_mean: (layers, heads) mean |a - b| over each head's real
            query-key pairs (all sequences), or None like `attention_max`.
        attention_layers: the model layers of the rows of `attention_max`
            (`Trace.attention_layers` of both Traces); () when not compared.
        attention_heads: the model heads of its columns; () when not compared.
    """

    hidden_max: np.ndarray | None
    hidden_cosine: np.ndarray | None
    attention_max: np.ndarray | None
    notes: tuple[str, ...]
    attention_layers: tuple[int, ...] = ()
    attention_heads: tuple[int, ...] = ()
    attention_mean: np.ndarray | None = None

    @property
    def max_abs(self) -> float:
        """The largest difference anywhere that was compared."""
        parts = [
            p.max() for p in (self.hidden_max, self.attention_max) if p is not None
        ]
        return float(max(parts)) if parts else float("nan")


def compare_traces(a: Trace, b: Trace) -> TraceDifference:
    """Differences between two Traces of the same token ids and mask.

    Padding is left out. Hidden states are compared when their shapes match,
    attention maps when both Traces hold the same layers and heads (see
    `capture(layers=, heads=)`); what is not compared is said in `notes`.

    Args:
        a: a `Trace`.
        b: a `Trace` of the same input: equal `token_ids` and `padding_mask`.

    Examples:
    ```python
    diff = compare_traces(trace_torch, trace_jax)
    diff.max_abs          # e.g. 3e-7
    diff.attention_max    # (layers, heads)
    ```
    """
    check_same_input(a, b)
    real = a.padding_mask.astype(bool)
    notes = []
    hidden_max = hidden_cosine = attention_max = attention_mean = None
    if a.hidden_states.shape == b.hidden_states.shape:
        ha, hb = a.hidden_states[:, real], b.hidden_states[:, real]
        hidden_max = np.abs(ha - hb).max(axis=(1, 2))
        dot = (a.hidden_states * b.hidden_states).sum(-1)
        norms = np.linalg.norm(a.hidden_states, axis=-1) * np.linalg.norm(
            b.hidden_states, axis=-1
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            hidden_cosine = np.where(real[None], dot / norms, np.nan)
    else:
        notes.append(
            f"hidden states: shapes {a.hidden_states.shape} and "
            f"{b.hidden_states.shape} differ"
        )
    held = (a.attention_layers, a.attention_heads)
    if held == (b.attention_layers, b.attention_heads):
        keep = real[None, :, None, :, None] & real[None, :, None, None, :]
        delta = np.where(keep, np.abs(a.attentions - b.attentions), 0.0)
        attention_max = delta.max(axis=(1, 3, 4))
        pairs = keep.sum(axis=(1, 3, 4))  # real query-key pairs, every head alike
        attention_mean = delta.sum(axis=(1, 3, 4)) / pairs
    else:
        notes.append(f"attentions: {held_text(a, 'a')}, {held_text(b, 'b')}")
        held = ((), ())
    return TraceDifference(
        hidden_max, hidden_cosine, attention_max, tuple(notes), *held, attention_mean
    )


def held_text(trace: Trace, name: str) -> str:
    """Which layers and heads' maps `trace` holds, in words, for messages.

    Examples:
    ```python
    held_text(trace, "a")  # "a holds layers 0..5 x heads 0..11"
    ```
    """
    return (
        f"{name} holds layers {_indices(trace.attention_layers)} x heads "
        f"{_indices(trace.attention_heads)}"
    )


def _indices(held: tuple[int, ...]) -> str:
    if len(held) > 2 and held == tuple(range(held[0], held[-1] + 1)):
        return f"{held[0]}..{held[-1]}"
    return ", ".join(map(str, held)) or "none"


def check_same_input(a: Trace, b: Trace) -> None:
    """Raise a ValueError that says where `b`'s input differs from `a`'s.

    Two Traces are of the same input when their token ids and padding masks
    are equal; only then can their arrays be compared position by position.

    Examples:
    ```python
    check_same_input(trace_torch, trace_jax)  # None: same ids and mask
    check_same_input(trace, other_text_trace)
    # ValueError: b: token_ids at sequence 0, position 2 is 7 ('dog'), a's is 5 ...
    ```
    """
    allowed = (
        "allowed: two Traces of the same input (same tokenizer and text, or the "
        "same ids)"
    )
    if a.token_ids.shape != b.token_ids.shape:
        raise ValueError(
            f"b: token_ids shape {b.token_ids.shape} differs from a's "
            f"{a.token_ids.shape} (sequences, positions); {allowed}"
        )
    for name in ("token_ids", "padding_mask"):
        where = np.argwhere(getattr(a, name) != getattr(b, name))
        if where.size:
            row, col = (int(i) for i in where[0])
            value_a, value_b = (_value(t, name, row, col) for t in (a, b))
            raise ValueError(
                f"b: {name} at sequence {row}, position {col} is {value_b}, a's is "
                f"{value_a} ({len(where)} positions differ); {allowed}"
            )


def _value(trace: Trace, name: str, row: int, col: int) -> str:
    value = int(getattr(trace, name)[row, col])
    if name == "token_ids" and trace.tokens is not None:
        return f"{value} ({trace.tokens[row][col]!r})"
    return str(value)


def trace_label(trace: Trace) -> str:
    """A short description of where a Trace came from, for titles.

    Examples:
    ```python
    trace_label(trace)  # "torch on cpu, float32, 6 layers x 12 heads, width 768"
    ```
    """
    parts = [f"{trace.backend} on {trace.device}"]
    dtype = trace.config.get("dtype")
    if isinstance(dtype, str):
        parts.append(dtype)
    parts.append(f"{trace.num_layers} layers x {trace.num_heads} heads")
    parts.append(f"width {trace.hidden_states.shape[-1]}")
    if trace.ablated_heads:
        off = " ".join(f"{layer}.{head}" for layer, head in trace.ablated_heads)
        parts.append(f"heads off {off}")
    return ", ".join(parts)
