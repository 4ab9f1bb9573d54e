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
        attention_max: (L, heads) max |a - b| of each head's map, or None when
            layer or head counts differ.
        notes: what could not be compared, and why.
    """

    hidden_max: np.ndarray | None
    hidden_cosine: np.ndarray | None
    attention_max: np.ndarray | None
    notes: tuple[str, ...]

    @property
    def max_abs(self) -> float:
        """The largest difference anywhere that was compared."""
        parts = [
            p.max() for p in (self.hidden_max, self.attention_max) if p is not None
        ]
        return float(max(parts)) if parts else float("nan")


def compare_traces(a: Trace, b: Trace) -> TraceDifference:
    """Differences between two Traces of the same token ids and mask.

    Examples:
    ```python
    diff = compare_traces(trace_torch, trace_jax)
    diff.max_abs          # e.g. 3e-7
    diff.attention_max    # (layers, heads)
    ```
    """
    if a.token_ids.shape != b.token_ids.shape or not (
        np.array_equal(a.token_ids, b.token_ids)
        and np.array_equal(a.padding_mask, b.padding_mask)
    ):
        raise ValueError(
            "b: token_ids or padding_mask differ from a's; allowed: two Traces of "
            "the same input (same tokenizer and text, or the same ids)"
        )
    real = a.padding_mask.astype(bool)
    notes = []
    hidden_max = hidden_cosine = attention_max = None
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
    if a.attentions.shape == b.attentions.shape:
        keep = real[None, :, None, :, None] & real[None, :, None, None, :]
        delta = np.where(keep, np.abs(a.attentions - b.attentions), 0.0)
        attention_max = delta.max(axis=(1, 3, 4))
    else:
        notes.append(
            f"attentions: shapes {a.attentions.shape} and {b.attentions.shape} differ"
        )
    return TraceDifference(hidden_max, hidden_cosine, attention_max, tuple(notes))
