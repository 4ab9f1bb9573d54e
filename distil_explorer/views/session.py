"""What the explorer does, without any widget: build a backbone, run it.

The Explorer's panels only draw; every action goes through an
`ExplorerSession`, which can be driven and tested from plain Python.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from distil_explorer.views.build_panel import BuildRequest

Progress = Callable[[str, int, int], None]


def _no_progress(step: str, done: int, total: int) -> None:
    pass


@dataclasses.dataclass(frozen=True)
class Timings:
    """Seconds each step of the last action took, in order."""

    steps: tuple[tuple[str, float], ...]

    def text(self) -> str:
        return ", ".join(
            f"{name} {seconds * 1e3:.0f} ms" for name, seconds in self.steps
        )


class ExplorerSession:
    """Holds the current backbone, tokenizer and Trace, and makes new ones.

    Examples:
    ```python
    session = ExplorerSession()
    session.build(BuildRequest("all_minilm_l6_v2_en", None, True))
    trace = session.run("The cat sat on the mat.")
    ```
    """

    def __init__(self) -> None:
        self.backbone = None
        self.tokenizer = None
        self.trace = None
        self.baseline = None  # the Trace before a token intervention
        self._where = (None, None)  # backend and device of the last run
        self.timings = Timings(())
        self._runners: dict[tuple[str, str], Any] = {}

    def build(self, request: BuildRequest, progress: Progress = _no_progress) -> None:
        """Build (and load) a backbone and, where the preset has one, a tokenizer."""
        from distil_explorer.model.backbone import DistilBertBackbone
        from distil_explorer.tokenizer import DistilBertTokenizer

        steps, start = [], time.perf_counter()
        progress("building", 0, 3)
        if request.config is not None:
            backbone = DistilBertBackbone(**request.config)
            tokenizer = None
        else:
            backbone = DistilBertBackbone.from_preset(
                request.preset, load_weights=request.load_weights
            )
            steps.append(("backbone", time.perf_counter() - start))
            progress("tokenizer", 2, 3)
            tokenizer = self._tokenizer_for(DistilBertTokenizer, request.preset)
        steps.append(("total", time.perf_counter() - start))
        self.backbone, self.tokenizer = backbone, tokenizer
        self.trace = self.baseline = None
        self.timings = Timings(tuple(steps))
        progress("done", 3, 3)

    @staticmethod
    def _tokenizer_for(cls, preset: str):
        # A built-in preset with random weights has no vocabulary offline;
        # token ids still work, so a missing tokenizer is not an error.
        try:
            return cls.from_preset(preset)
        except (OSError, ValueError, ConnectionError):
            return None

    def run(
        self,
        inputs: str | list[int] | dict[str, Any],
        backend: str | None = None,
        device: str | None = None,
        max_length: int | None = None,
    ):
        """Capture a Trace of the current backbone on text or token ids."""
        if self.backbone is None:
            raise ValueError("run: no backbone yet; allowed: build one first")
        start = time.perf_counter()
        prepared = self._prepare(inputs, max_length)
        encoding = prepared if hasattr(prepared, "tokens") else None
        batch = encoding.inputs if encoding is not None else prepared
        tokenize = time.perf_counter()
        self._where = (backend, device)
        trace = self._capture(batch)
        if encoding is not None:
            trace = dataclasses.replace(trace, tokens=encoding.tokens)
        done = time.perf_counter()
        self.trace, self.baseline = trace, None
        self.timings = Timings(
            (("tokenize", tokenize - start), ("forward", done - tokenize))
        )
        return trace

    def intervene(self, position: int, action: str):
        """Re-run sequence 0 with the token at `position` masked or removed.

        Acts on the Trace on screen (so interventions compound) and returns
        the `InterventionEffect` against it; the Trace from before the first
        intervention is kept as `baseline` for `restore`.
        """
        from distil_explorer.analysis.intervention import (
            intervened_inputs,
            intervention_effect,
        )

        original = self.trace
        if original is None:
            raise ValueError("intervene: no Trace yet; allowed: run first")
        real = int(original.padding_mask[0].sum())
        mask_id = None
        if action == "mask":
            if self.tokenizer is None:
                raise ValueError("mask: needs a tokenizer for [MASK]; allowed: remove")
            mask_id = self.tokenizer.token_to_id("[MASK]")
        ids = intervened_inputs(
            original.token_ids[:1, :real], position, action, mask_id
        )
        # Where the Trace on screen ran, so the effect is the token's alone.
        changed = self._capture({"token_ids": ids, "padding_mask": np.ones_like(ids)})
        if original.tokens is not None:
            tokens = list(original.tokens[0][:real])
            if action == "mask":
                tokens[position] = "[MASK]"
            else:
                del tokens[position]
            changed = dataclasses.replace(changed, tokens=[tokens])
        self.baseline, self.trace = self.baseline or original, changed
        return intervention_effect(original, changed, position, action)

    def _capture(self, batch: dict[str, Any]):
        """Capture `batch` on the backend and device of the last `run`.

        Queries and keys are kept (for the query/key view) on every path.
        """
        from distil_explorer.trace import capture

        backend, device = self._where
        if backend in (None, self._current_backend()) and device in (None, "cpu"):
            return capture(self.backbone, batch, keep_qk=True)
        runner = self._runner(backend, device)
        return runner.capture(self.backbone, batch, keep_qk=True)

    def restore(self):
        """Go back to the Trace before the intervention."""
        if self.baseline is not None:
            self.trace, self.baseline = self.baseline, None
        return self.trace

    def _prepare(self, inputs: Any, max_length: int | None):
        limit = min(
            max_length or self.backbone.max_sequence_length,
            self.backbone.max_sequence_length,
        )
        if isinstance(inputs, str):
            if self.tokenizer is None:
                raise ValueError(
                    "text: this backbone has no tokenizer (custom config or a preset "
                    "without vocabulary); allowed: token ids, or build a preset with "
                    "a tokenizer"
                )
            return self.tokenizer.encode_at_most(inputs, limit)
        if isinstance(inputs, dict):
            return inputs
        ids = np.asarray(list(inputs), dtype="int64")[None, :limit]
        return {
            "token_ids": ids.astype("int32"),
            "padding_mask": np.ones_like(ids, "int32"),
        }

    @staticmethod
    def _current_backend() -> str:
        import keras

        return keras.backend.backend()

    def _runner(self, backend: str | None, device: str | None):
        from distil_explorer.runtime.runner import Runner

        key = (backend or self._current_backend(), device or "cpu")
        if key not in self._runners:
            self._runners[key] = Runner(backend=key[0], device=key[1])
        return self._runners[key]

    def close(self) -> None:
        for runner in self._runners.values():
            runner.close()
        self._runners.clear()


def parse_token_ids(text: str) -> list[int]:
    """Token ids typed as "101, 7592 102" -> [101, 7592, 102].

    Examples:
    ```python
    parse_token_ids("101 2023, 102")  # [101, 2023, 102]
    ```
    """
    parts = [p for p in text.replace(",", " ").split() if p]
    if not parts or not all(p.lstrip("-").isdigit() for p in parts):
        raise ValueError(
            f"token ids={text!r}: allowed: integers separated by spaces or commas"
        )
    return [int(p) for p in parts]
