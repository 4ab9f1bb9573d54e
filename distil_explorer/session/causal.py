"""The Causal tab's work, with no widget: patching, head importance, ablation.

`CausalWorkflows` is a part of `Session` (its base class): `patch` and
`head_importance` run `distil_explorer.patch_activations` and
`distil_explorer.head_importance` in this process on the input of the Trace
on screen, with a target chosen as `Session.attribute` chooses it; `ablate`
and `restore_heads` re-run that input with other heads switched off. Each
result belongs to the Trace it was made for (`patching`, `importance`): a
new run, an intervention or a build makes it None. Patching runs the model
as the Trace ran (its heads switched off too), so switching heads makes it
None as well; importance measures the plain model (every gate 1, as Michel
et al. define it), so a re-run of the same input with other heads off keeps
it.

Examples:
```python
session.run("The cat sat on the mat.")
session.patch("The dog sat on the mat.").effect.shape  # (L + 1, T)
session.head_importance(method="ablation").values.shape  # (L, H)
session.ablate([(1, 3)]).ablated_heads  # ((1, 3),)
session.restore_heads().ablated_heads  # ()
```
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from distil_explorer.checks import checked_heads
from distil_explorer.session.inputs import first_sequence


@dataclasses.dataclass(frozen=True, eq=False)
class HeadImportance:
    """`head_importance` of the input on screen, with what it measured.

    Attributes:
        values: float64 (L, H), read-only: layer l, head h.
        method: "gradient" or "ablation".
        target: a label of the target, e.g. "[CLS] norm".
        texts: how many sequences it averaged over.

    Examples:
    ```python
    found = session.head_importance(method="gradient")
    np.unravel_index(found.values.argmax(), found.values.shape)
    ```
    """

    values: np.ndarray
    method: str
    target: str = ""
    texts: int = 1

    def __post_init__(self) -> None:
        values = np.array(self.values, dtype=np.float64)
        if values.ndim != 2:
            raise ValueError(f"values shape={values.shape}: allowed: (L, H)")
        values.flags.writeable = False
        object.__setattr__(self, "values", values)


def trace_inputs(trace: Any) -> dict[str, np.ndarray]:
    """Every sequence of `trace` as model inputs (token ids and padding)."""
    return {"token_ids": trace.token_ids, "padding_mask": trace.padding_mask}


def same_input(a: Any, b: Any) -> bool:
    """Whether two Traces ran the same token ids with the same padding."""
    return (
        a.token_ids.shape == b.token_ids.shape
        and np.array_equal(a.token_ids, b.token_ids)
        and np.array_equal(a.padding_mask, b.padding_mask)
    )


class CausalWorkflows:
    """The causal part of `Session` (see the module docstring)."""

    @property
    def patching(self):
        """The `Patching` of the Trace on screen's input, or None."""
        return self._results.get("patching", self.trace)

    @property
    def importance(self) -> HeadImportance | None:
        """The `HeadImportance` of the Trace on screen's input, or None."""
        return self._results.get("importance", self.trace)

    def patch(
        self,
        corrupted: Any,
        target: Any = "cls_norm",
        other_text: str | None = None,
        position: int | None = None,
    ):
        """Patch each hidden state of the input on screen into `corrupted`.

        Runs `distil_explorer.patch_activations` in this process with the
        Trace's first sequence (an intervention included) as the clean input,
        with the heads the Trace ran without switched off in every run.

        Args:
            corrupted: text (needs a tokenizer; without one, ids typed
                as the Run tab takes them, "2 10 11 3") or token ids, as many
                tokens as the clean input.
            target, other_text, position: as `Session.attribute` takes them
                (a task model's targets included).

        Examples:
        ```python
        session.patch("The dog sat on the mat.", "similarity",
                      other_text="A kitten rests.").effect[0]
        ```
        """
        from distil_explorer.causal import patch_activations

        trace = self._causal_trace("patch")
        if isinstance(corrupted, str) and not corrupted.strip():
            raise ValueError(
                "corrupted='': empty; allowed: the text on screen with a word changed"
            )
        if isinstance(corrupted, str) and self.tokenizer is None:
            corrupted = _typed_ids(corrupted, self.tokenizer_problem)
        if not isinstance(corrupted, (str, dict)):
            corrupted = {"token_ids": np.asarray([list(corrupted)], dtype="int32")}
            corrupted["padding_mask"] = np.ones_like(corrupted["token_ids"])
        found = patch_activations(
            self.backbone,
            first_sequence(trace),
            corrupted,
            self._chosen(target, other_text, position),
            tokenizer=self.tokenizer,
            ablate=trace.ablated_heads,
        )
        return self._results.keep("patching", trace, found)

    def head_importance(
        self,
        texts: Any = None,
        target: Any = "cls_norm",
        method: str = "gradient",
        other_text: str | None = None,
        position: int | None = None,
    ) -> HeadImportance:
        """How much the target depends on each head (`head_importance`).

        Args:
            texts: None (every sequence of the Trace on screen, as it ran),
                or texts or inputs as `distil_explorer.head_importance` takes.
            target, other_text, position: as `Session.attribute` takes them.
            method: "gradient" or "ablation".
        """
        from distil_explorer.causal import head_importance
        from distil_explorer.causal.targets import label_of

        trace = self._causal_trace("head importance")
        inputs = trace_inputs(trace) if texts is None else texts
        chosen = self._chosen(target, other_text, position)
        values = head_importance(
            self.backbone,
            inputs,
            chosen,
            tokenizer=self.tokenizer,
            method=method,
            progress=False,
        )
        count = len(inputs["token_ids"]) if texts is None else _count(texts)
        found = HeadImportance(values, method, label_of(chosen), count)
        if texts is None:  # of another input it is no view of this Trace's
            self._results.keep("importance", trace, found)
        return found

    def ablate(self, heads: Any):
        """Re-run the input on screen with exactly `heads` switched off.

        `heads`: (layer, head) pairs; [] is the plain model. Runs where the
        Trace on screen ran, as it was captured (norms, queries and keys);
        the new Trace is shown next, and the importance of the same input
        stays with it (a patching, of the model as it ran, does not).

        Examples:
        ```python
        session.ablate([(0, 1), (1, 0)]).ablated_heads  # ((0, 1), (1, 0))
        ```
        """
        trace = self._causal_trace("ablate")
        backbone = self.backbone
        pairs = checked_heads("heads", heads, backbone.num_layers, backbone.num_heads)
        inputs = trace_inputs(trace)
        if trace.tokens is not None:
            from distil_explorer.tokenizer import Encoding

            inputs = Encoding(**inputs, tokens=trace.tokens)
        runner = self._runner(trace.backend, trace.device)
        new = runner.capture(
            backbone,
            inputs,
            keep_qk=trace.queries is not None,
            norms=trace.attention_norms is not None,
            ablate=pairs,
        )
        kept = self.importance
        self.trace, self.baseline = new, None
        if kept is not None:
            self._results.keep("importance", new, kept)
        return new

    def restore_heads(self):
        """Re-run the input on screen with every head on (`ablate([])`)."""
        return self.ablate([])

    def _causal_trace(self, what: str):
        self._require_backbone(what)
        if self.trace is None:
            raise ValueError(f"{what}: no Trace yet; allowed: run some text first")
        return self.trace

    def _chosen(self, target: Any, other_text: Any, position: Any = None):
        """The target, read as `Session.attribute` reads it; a task model's
        target bound to that model (it reads the last hidden state of its
        backbone, the one patched and gated here)."""
        model, chosen = self._attribution_target(target, other_text, position)
        if model is not self.backbone and hasattr(chosen, "prepared"):
            chosen = chosen.prepared(model)
        return chosen


def _typed_ids(text: str, problem: str | None) -> list[int]:
    """Token ids typed in the corrupted box of a model with no tokenizer."""
    from distil_explorer.session.requests import parse_token_ids

    try:
        return parse_token_ids(text)
    except ValueError:
        raise ValueError(
            f"corrupted: text needs a tokenizer, and this backbone has none "
            f"({problem}); allowed: token ids as the Run tab takes them, e.g. "
            "'2 10 11 3'"
        ) from None


def _count(texts: Any) -> int:
    if isinstance(texts, str):
        return 1
    if isinstance(texts, dict):
        return len(texts["token_ids"])
    return len(texts)
