"""`Session`: what the explorer does (build, run, intervene, compare), with no widget.

The Explorer is one controller over one `Session`: its buttons call these
methods, and its panels draw the values they return. The same calls work from
plain Python, in a script or a test, with no widget library, no matplotlib
and no keras until a model is built.

Examples:
```python
from distil_explorer.session import BuildRequest, Session
session = Session()
session.build(BuildRequest("all_minilm_l6_v2_en"))
session.run("The cat sat on the mat."); session.intervene(position=2, action="mask")
session.keep_as_a(); session.run("The cat sat on the mat.", backend="jax")
session.comparison().difference.max_abs  # torch vs jax
```
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from distil_explorer.analysis.intervention import ACTIONS
from distil_explorer.checks import checked_flag
from distil_explorer.session.attributing import AttributionWorkflows
from distil_explorer.session.building import build_model
from distil_explorer.session.causal import CausalWorkflows
from distil_explorer.session.compare import comparison_of, precision_comparison
from distil_explorer.session.inputs import (
    checked_max_length,
    corpus_texts,
    intervened_inputs,
    prepared_inputs,
)
from distil_explorer.session.mixing import MixingCache
from distil_explorer.session.requests import (
    BuildRequest,
    Comparison,
    PrecisionComparison,
    Progress,
    Timings,
    no_progress,
)
from distil_explorer.session.tasks import TaskSession
from distil_explorer.session.trace_results import TraceResults


class Session(AttributionWorkflows, CausalWorkflows, TaskSession):
    """Holds the backbone (and task model), tokenizer, Trace, baseline and A.

    Every capture goes through a `Runner` for the backend and device asked
    for (the Runner decides whether that is this process or a worker), and
    every Trace holds where it ran: nothing else remembers it.

    Attributes:
        backbone: the `DistilBertBackbone` built last, or None.
        tokenizer: its `DistilBertTokenizer`, or None (custom config, or a
            preset whose tokenizer could not be read: see `tokenizer_problem`).
        tokenizer_problem: one sentence saying why there is no tokenizer, or
            None.
        name: what was built (`BuildRequest.name`), "" before a build.
        trace: the Trace on screen, or None.
        baseline: the Trace from before the first intervention, or None.
        kept: (Trace A, label) kept by `keep_as_a`, or None. It survives
            builds and runs: later runs of its input are B.
        timings: `Timings` of the last build or run.

    Examples:
    ```python
    session = Session()
    session.build(BuildRequest("all_minilm_l6_v2_en"))
    session.run("The cat sat.").attentions.shape  # (6, 1, 12, 6, 6)
    ```
    """

    def __init__(self) -> None:
        self.backbone = None
        self.tokenizer = None
        self.tokenizer_problem: str | None = None
        self.name = ""
        self.precision = "float32"  # the backbone's (BuildRequest.precision)
        self.trace = None
        self.baseline = None
        self.kept: tuple[Any, str] | None = None
        self.timings = Timings()
        self._rows = None
        self._runners: dict[tuple[str, str | None], Any] = {}
        self._results = TraceResults()  # attribution, patching, lens, ...
        self._mixing = MixingCache()  # of the Trace on screen only
        self.corpus = None  # CorpusStatistics of this backbone, or None

    # --- build ---

    def build(self, request: BuildRequest, progress: Progress = no_progress) -> None:
        """Build (and load) a backbone, or a task model (`task`), and its tokenizer.

        Nothing changes unless the backbone builds: a failed build keeps the
        last backbone, tokenizer and Trace. A tokenizer that cannot be read
        is not a failed build: `tokenizer_problem` says why, and runs take
        token ids.
        """
        if not isinstance(request, BuildRequest):
            raise ValueError(
                f"request={type(request).__name__}: allowed: a BuildRequest"
            )
        task, backbone, tokenizer, problem, steps = build_model(request, progress)
        self.task, self.backbone, self.tokenizer = task, backbone, tokenizer
        self.tokenizer_problem = problem
        self.name = request.name
        self.precision = request.precision
        self.trace = self.baseline = None
        self._rows = None
        self.corpus = None  # the old model's statistics say nothing of this one
        self.timings = Timings(steps)
        progress("built", 2, 2)

    @property
    def parameter_rows(self) -> list:
        """`parameter_table` of the backbone (computed once per build)."""
        from distil_explorer.analysis.params import parameter_table

        self._require_backbone("parameter_rows")
        if self._rows is None:
            self._rows = parameter_table(self.backbone)
        return self._rows

    @property
    def special_ids(self) -> tuple[int, ...]:
        """Ids of [CLS] and [SEP]: from the tokenizer, else where they stand.

        Without a vocabulary, the first and last real ids of the Trace's
        first sequence are taken to be [CLS] and [SEP].
        """
        if self.tokenizer is not None:
            return tuple(self.tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]"))
        if self.trace is None:
            return ()
        last = int(self.trace.padding_mask[0].sum()) - 1
        ids = self.trace.token_ids[0]
        return tuple(sorted({int(ids[0]), int(ids[last])}))

    # --- run ---

    def run(
        self,
        inputs: str | Sequence[int] | Mapping[str, Any],
        backend: str | None = None,
        device: str | None = None,
        max_length: int | None = None,
        norms: bool = True,
        ablate: Any = None,
    ):
        """Capture a Trace of the backbone on text or token ids; it is shown next.

        Args:
            inputs: text (needs a tokenizer), a sequence of token ids (one
                sequence, [CLS] and [SEP] included as typed), or a
                `{"token_ids", "padding_mask"}` mapping.
            backend: a Keras backend (`available_backends()`); None: this
                process's.
            device: "cpu", "cuda:0", ... (`available_devices(backend)`);
                None: Keras chooses.
            max_length: truncate to at most this many tokens (at most the
                backbone's `max_sequence_length`); None: that maximum.
            norms: bool. Also capture the norm-weighted maps
                (`Trace.attention_norms`), which the head and model views can
                show instead of the weights; on by default, they cost a few
                percent of the forward pass (benchmarks/norms.py).
            ablate: None, or (layer, head) pairs to run with switched off
                (`capture(..., ablate=...)`); the Trace's `ablated_heads`
                says which, for every view to mark.

        Raises:
            NotEnoughMemoryError: the capture would hold more than this
                process can get (checked before it runs, here or in a
                worker), or an allocation failed; its one line says how much
                and the way out, which the Run tab shows.
        """
        from distil_explorer.model.memory import capture_guard, input_shape

        self._require_backbone("run")
        norms = checked_flag("norms", norms)
        limit = checked_max_length(max_length, self.backbone.max_sequence_length)
        start = time.perf_counter()
        prepared = prepared_inputs(
            inputs, limit, self.tokenizer, self.tokenizer_problem
        )
        tokenized = time.perf_counter()
        shape = input_shape(getattr(prepared, "inputs", prepared))
        # Asked here, before a worker or this process allocates anything.
        with capture_guard(
            self.backbone,
            shape,
            keep_qk=True,
            norms=norms,
            shorter="a smaller max_length",
        ):
            trace = self._runner(backend, device).capture(
                self.backbone, prepared, keep_qk=True, norms=norms, ablate=ablate
            )
        done = time.perf_counter()
        self.trace, self.baseline = trace, None
        self.timings = Timings(
            (("tokenize", tokenized - start), ("forward", done - tokenized))
        )
        return trace

    def intervene(self, position: int, action: str):
        """Re-run sequence 0 with the token at `position` masked or removed.

        Runs where the Trace on screen ran, on the Trace on screen (so
        interventions compound), and returns the `InterventionEffect` against
        it; the Trace from before the first intervention is kept for
        `restore`.
        """
        from distil_explorer.analysis.intervention import intervention_effect

        original = self.trace
        if original is None:
            raise ValueError("intervene: no Trace yet; allowed: run first")
        if action not in ACTIONS:
            raise ValueError(f"action={action!r}: allowed: {', '.join(ACTIONS)}")
        inputs = intervened_inputs(original, position, action, self.tokenizer)
        runner = self._runner(original.backend, original.device)
        # As the Trace on screen was captured: with norms when it has them.
        norms = original.attention_norms is not None
        changed = runner.capture(
            self.backbone,
            inputs,
            keep_qk=True,
            norms=norms,
            ablate=original.ablated_heads,
        )
        self.baseline, self.trace = self.baseline or original, changed
        return intervention_effect(original, changed, int(position), action)

    def restore(self):
        """Show the Trace from before the interventions again; returns it."""
        if self.baseline is not None:
            self.trace, self.baseline = self.baseline, None
        return self.trace

    # --- compare ---

    def keep_as_a(self):
        """Keep the Trace on screen as A; later runs of its input are B."""
        from distil_explorer.analysis.compare import trace_label

        if self.trace is None:
            raise ValueError("keep: no run yet; allowed: run first, then keep it as A")
        label = trace_label(self.trace)
        self.kept = (self.trace, f"{self.name}: {label}" if self.name else label)
        self.kept_classes = self.classes
        return self.trace

    def comparison(self) -> Comparison | None:
        """A against the Trace on screen, or None while no A is kept."""
        return comparison_of(self.kept, self.trace, self.name)

    def compare_precisions(
        self,
        precisions: Sequence[str] = ("bfloat16", "int8"),
        progress: Progress = no_progress,
    ) -> PrecisionComparison:
        """Run the input on screen at other precisions; how far each moves it.

        Each precision is a copy of the backbone with the same float weights
        (`model.precision.with_precision`), run where the Trace on screen
        ran. The Trace on screen, A, and the backbone stay as they are.
        `progress(step, done, total)` hears of each precision.
        """
        if self.trace is None:
            raise ValueError("compare precisions: no Trace yet; allowed: run first")
        runner = self._runner(self.trace.backend, self.trace.device)
        return precision_comparison(
            self.backbone, self.trace, runner, precisions, progress
        )

    # --- corpus ---

    def corpus_statistics(
        self,
        source: str = "demo",
        count: int | None = 200,
        batch_size: int = 32,
        max_length: int = 128,
        progress: Callable[[int, int], None] | bool = False,
    ):
        """Per-head statistics of the backbone over a corpus; kept as `corpus`.

        Args:
            source: "demo" (`demo_corpus()`, the Python documentation) or
                the path of a text file with one text per line.
            count: int or None. Use only the first `count` texts; None: all.
            batch_size, max_length: as `corpus_statistics` takes them
                (`max_length` is capped at the backbone's maximum).
            progress: a function `progress(done, total)`, or True/False for
                a text progress bar or none.
        """
        from distil_explorer.corpus import corpus_statistics

        self._require_backbone("corpus statistics")
        if self.tokenizer is None:
            raise ValueError(
                f"corpus statistics: this backbone has no tokenizer "
                f"({self.tokenizer_problem}); allowed: build a preset with one"
            )
        texts = corpus_texts(source, count)
        start = time.perf_counter()
        stats = corpus_statistics(
            self.backbone,
            texts,
            self.tokenizer,
            batch_size=batch_size,
            max_length=min(max_length, self.backbone.max_sequence_length),
            progress=progress,
        )
        self.corpus = stats
        self.timings = Timings((("corpus", time.perf_counter() - start),))
        return stats

    def context_mixing(self, method: str = "value_zeroing"):
        """`context_mixing` of the Trace on screen, once per Trace (session.mixing)."""
        return self._mixing.of(self.backbone, self.trace, method)

    def close(self) -> None:
        """Stop every worker process the session started."""
        for runner in self._runners.values():
            runner.close()
        self._runners.clear()

    def _require_backbone(self, what: str) -> None:
        if self.backbone is None:
            raise ValueError(f"{what}: no backbone yet; allowed: build one first")

    def _runner(self, backend: str | None, device: str | None):
        from distil_explorer.runtime.runner import Runner

        key = (backend, device)
        if key not in self._runners:
            self._runners[key] = Runner(backend=backend, device=device)
        return self._runners[key]
