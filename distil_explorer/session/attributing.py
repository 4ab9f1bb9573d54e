"""The Attribution tab's work, with no widget: which tokens make a target.

`AttributionWorkflows` is a part of `Session` (its base class): `attribute`
runs `distil_explorer.attribute` in this process on the first sequence of the
Trace on screen, with a target chosen by name (the Attribution tab's picker,
task targets included) or given as a callable. The result belongs to the
Trace it was made for (`attribution`): a new run, an intervention or a build
makes it None.

Examples:
```python
session.run("The cat sat on the mat.")
session.attribute("cls_norm", method="gradient_x_input").scores.shape  # (1, T)
session.attribution is not None  # True until the Trace changes
```
"""

from __future__ import annotations

from typing import Any

from distil_explorer.session.inputs import attribution_problem, first_sequence


class AttributionWorkflows:
    """`attribute`, `attribution` and `attribution_problem` of the Session."""

    @property
    def attribution_problem(self) -> str | None:
        """Why `attribute` cannot work on this backbone; None when it can."""
        return attribution_problem(self.backbone, self.precision)

    @property
    def attribution(self):
        """The `Attribution` of the Trace on screen, or None.

        It belongs to the Trace it was made for: anything that changes
        `trace` (a run, an intervention, a build) makes it None.
        """
        return self._results.get("attribution", self.trace)

    def attribute(
        self,
        target: Any = "cls_norm",
        other_text: str | None = None,
        method: str = "integrated_gradients",
        steps: int | None = None,
        position: int | None = None,
    ):
        """Attribute a target to the tokens of the Trace on screen.

        Runs `distil_explorer.attribute` in this process (torch or jax) on
        the Trace's first sequence, as it was run (an intervention included).

        Args:
            target: "cls_norm", "similarity" (with `other_text`), a `task_targets`
                key ("class:1"; "original_token" at `position`), or a callable.
            other_text: the second text of a "similarity" target.
            method: an `attribute` method.
            steps: integration steps; None: the default.
        """
        from distil_explorer.attribution import DEFAULT_STEPS, attribute

        self._require_backbone("attribute")
        if self.trace is None:
            raise ValueError("attribute: no Trace yet; allowed: run some text first")
        model, chosen = self._attribution_target(target, other_text, position)
        trace = self.trace
        found = attribute(
            model,
            first_sequence(trace),
            chosen,
            method=method,
            steps=DEFAULT_STEPS if steps is None else steps,
            tokenizer=self.tokenizer,
        )
        return self._results.keep("attribution", trace, found)
