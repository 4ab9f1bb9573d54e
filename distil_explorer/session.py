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
trace = session.run("The cat sat on the mat.")
effect = session.intervene(position=2, action="mask")
session.restore()
session.keep_as_a()
session.run("The cat sat on the mat.", backend="jax")
session.comparison().difference.max_abs  # torch vs jax
```
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from distil_explorer.analysis.intervention import ACTIONS
from distil_explorer.config import (
    CONFIG_FIELDS,
    QUANTIZATIONS,
    backbone_presets,
    check_config,
    check_precision,
)
from distil_explorer.trace import checked_flag

Progress = Callable[[str, int, int], None]


def _no_progress(step: str, done: int, total: int) -> None:
    pass


@dataclasses.dataclass(frozen=True)
class BuildRequest:
    """What a person asked to build: a preset, or a custom config.

    Attributes:
        preset: str or None. A built-in preset name, a local directory, or a
            `kaggle://` / `hf://` handle; None with `config`.
        config: dict or None. Constructor arguments of a custom backbone
            (random weights, no tokenizer); checked by `check_config`.
        load_weights: bool. Load a preset's weights (False: random weights of
            the preset's architecture). Ignored for a custom config.
        precision: str. "float32" (default), another dtype policy
            ("bfloat16", ...) or a quantization mode ("int8", "int4",
            "float8") applied to float32 weights; one of `config.PRECISIONS`.
            For a custom config it replaces the config's `dtype`.

    Examples:
    ```python
    BuildRequest("all_minilm_l6_v2_en")
    BuildRequest(config={**small_config, "num_heads": 4})
    ```
    """

    preset: str | None = None
    config: dict[str, Any] | None = None
    load_weights: bool = True
    precision: str = "float32"

    def __post_init__(self) -> None:
        if (self.preset is None) == (self.config is None):
            raise ValueError(
                f"BuildRequest(preset={self.preset!r}, config=...): allowed: "
                "exactly one of preset (a name, directory or handle) or config"
            )
        if self.preset is not None and (
            not isinstance(self.preset, str) or not self.preset.strip()
        ):
            raise ValueError(
                f"preset={self.preset!r}: allowed: a preset name, a local "
                "directory or a kaggle:// / hf:// handle (a non-empty str)"
            )
        if not isinstance(self.load_weights, bool):
            raise ValueError(
                f"load_weights={self.load_weights!r}: allowed: True or False"
            )
        check_precision("precision", self.precision)
        if self.config is not None:
            unknown = sorted(set(self.config) - set(CONFIG_FIELDS))
            missing = sorted(set(CONFIG_FIELDS[:5]) - set(self.config))
            if unknown or missing:
                raise ValueError(
                    f"config keys={sorted(self.config)}: unknown {unknown}, missing "
                    f"{missing}; allowed: {', '.join(CONFIG_FIELDS)}"
                )
            object.__setattr__(self, "config", check_config(**self.config))

    @property
    def name(self) -> str:
        """What was built, for titles and labels."""
        if self.config is not None:
            precision = "" if self.precision == "float32" else f", {self.precision}"
            return f"custom config{precision}"
        weights = "" if self.load_weights else " (random weights)"
        precision = "" if self.precision == "float32" else f", {self.precision}"
        return f"{self.preset}{weights}{precision}"


@dataclasses.dataclass(frozen=True)
class Timings:
    """Seconds each step of the last action took, in order.

    Examples:
    ```python
    Timings((("tokenize", 0.001), ("forward", 0.09))).text()
    # "tokenize 1 ms, forward 90 ms"
    ```
    """

    steps: tuple[tuple[str, float], ...] = ()

    def text(self) -> str:
        return ", ".join(
            f"{name} {seconds * 1e3:.0f} ms" for name, seconds in self.steps
        )


@dataclasses.dataclass(frozen=True, eq=False)
class Comparison:
    """Kept Trace A against the Trace on screen (B), or why there is no B yet.

    Attributes:
        a, a_label: the kept Trace and where it came from.
        b, b_label: the current Trace, or None when it is A itself, there is
            none, or its input differs from A's (then `problem` says so).
        difference: a `TraceDifference` of A and B, or None without a B.
        problem: one sentence saying why there is no B, or None.
    """

    a: Any
    a_label: str
    b: Any = None
    b_label: str = ""
    difference: Any = None
    problem: str | None = None


@dataclasses.dataclass(frozen=True, eq=False)
class PrecisionComparison:
    """How far other precisions move every map of the Trace on screen.

    Attributes:
        reference: the Trace they are compared with (the one on screen).
        precisions: the precisions run, e.g. ("bfloat16", "int8").
        traces: one Trace per precision, of the same input.
        differences: one `TraceDifference` (reference vs that Trace) each:
            `attention_max` and `attention_mean` are (layers, heads).
    """

    reference: Any
    precisions: tuple[str, ...]
    traces: tuple[Any, ...]
    differences: tuple[Any, ...]


def parse_token_ids(text: str) -> list[int]:
    """Token ids typed as "101, 7592 102" -> [101, 7592, 102].

    Examples:
    ```python
    parse_token_ids("101 2023, 102")  # [101, 2023, 102]
    ```
    """
    if not isinstance(text, str):
        raise ValueError(
            f"token ids={text!r}: allowed: a str of integers separated by "
            "spaces or commas"
        )
    parts = [p for p in text.replace(",", " ").split() if p]
    if not parts or not all(p.lstrip("-").isdigit() for p in parts):
        raise ValueError(
            f"token ids={text!r}: allowed: integers separated by spaces or commas"
        )
    return [int(p) for p in parts]


class Session:
    """Holds the backbone, tokenizer, Trace, baseline and kept Trace A.

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
        self.trace = None
        self.baseline = None
        self.kept: tuple[Any, str] | None = None
        self.timings = Timings()
        self._rows = None
        self._runners: dict[tuple[str, str | None], Any] = {}
        self._attribution: tuple[Any, Any] | None = None  # (its Trace, it)
        self.corpus = None  # CorpusStatistics of this backbone, or None

    # --- build ---

    def build(self, request: BuildRequest, progress: Progress = _no_progress) -> None:
        """Build (and load) a backbone and, for a preset, its tokenizer.

        Nothing changes unless the backbone builds: a failed build keeps the
        last backbone, tokenizer and Trace. A tokenizer that cannot be read
        is not a failed build: `tokenizer_problem` says why, and runs take
        token ids.
        """
        from distil_explorer.model.backbone import DistilBertBackbone

        if not isinstance(request, BuildRequest):
            raise ValueError(
                f"request={type(request).__name__}: allowed: a BuildRequest"
            )
        start = time.perf_counter()
        progress("building the backbone", 0, 2)
        quantize = request.precision if request.precision in QUANTIZATIONS else None
        dtype = "float32" if quantize else request.precision
        if request.config is not None:
            backbone = DistilBertBackbone(**{**request.config, "dtype": dtype})
            tokenizer, problem = None, "a custom config has no vocabulary"
        else:
            backbone = DistilBertBackbone.from_preset(
                request.preset,
                load_weights=request.load_weights,
                progress=progress,
                dtype=dtype,
            )
        if quantize:
            progress(f"quantizing to {quantize}", 1, 2)
            backbone.quantize(quantize)
        steps = [("backbone", time.perf_counter() - start)]
        if request.preset is not None:
            progress("reading the tokenizer", 1, 2)
            tokenizer, problem = _tokenizer_for(request.preset)
            steps.append(("tokenizer", time.perf_counter() - start - steps[0][1]))
        self.backbone, self.tokenizer = backbone, tokenizer
        self.tokenizer_problem = problem
        self.name = request.name
        self.trace = self.baseline = None
        self._rows = None
        self.corpus = None  # the old model's statistics say nothing of this one
        self.timings = Timings(tuple(steps))
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

        Raises:
            NotEnoughMemoryError: the capture would hold more than this
                process can get (checked before it runs, here or in a
                worker), or an allocation failed; its one line says how much
                and the way out, which the Run tab shows.
        """
        from distil_explorer.model.memory import capture_guard, input_shape

        self._require_backbone("run")
        norms = checked_flag("norms", norms)
        limit = self._limit(max_length)
        start = time.perf_counter()
        prepared = self._prepare(inputs, limit)
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
                self.backbone, prepared, keep_qk=True, norms=norms
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
        from distil_explorer.analysis.intervention import (
            intervened_inputs,
            intervention_effect,
        )
        from distil_explorer.tokenizer import Encoding

        original = self.trace
        if original is None:
            raise ValueError("intervene: no Trace yet; allowed: run first")
        if action not in ACTIONS:
            raise ValueError(f"action={action!r}: allowed: {', '.join(ACTIONS)}")
        real = int(original.padding_mask[0].sum())
        if isinstance(position, bool) or not isinstance(position, (int, np.integer)):
            raise ValueError(f"position={position!r}: allowed: an int, 0..{real - 1}")
        if not 0 <= position < real:
            raise ValueError(f"position={position}: allowed: 0..{real - 1}")
        if action == "remove" and real < 2:
            raise ValueError(
                "remove: the sequence has one token; allowed: mask it instead"
            )
        mask_id = None
        if action == "mask":
            if self.tokenizer is None:
                raise ValueError(
                    "mask: needs a tokenizer for [MASK]; allowed: remove the token"
                )
            mask_id = self.tokenizer.token_to_id("[MASK]")
        ids = intervened_inputs(
            original.token_ids[:1, :real], position, action, mask_id
        )
        inputs: Any = {"token_ids": ids, "padding_mask": np.ones_like(ids)}
        if original.tokens is not None:
            tokens = list(original.tokens[0][:real])
            if action == "mask":
                tokens[position] = "[MASK]"
            else:
                del tokens[position]
            inputs = Encoding(ids, inputs["padding_mask"], (tuple(tokens),))
        runner = self._runner(original.backend, original.device)
        # As the Trace on screen was captured: with norms when it has them.
        norms = original.attention_norms is not None
        changed = runner.capture(self.backbone, inputs, keep_qk=True, norms=norms)
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
        return self.trace

    def comparison(self) -> Comparison | None:
        """A against the Trace on screen, or None while no A is kept."""
        from distil_explorer.analysis.compare import compare_traces, trace_label

        if self.kept is None:
            return None
        a, a_label = self.kept
        b = self.trace
        if b is None or b is a:
            return Comparison(a, a_label, problem="run A's input again to get a B")
        b_label = trace_label(b)
        b_label = f"{self.name}: {b_label}" if self.name else b_label
        try:
            difference = compare_traces(a, b)
        except ValueError as error:  # a new input is no error: it cannot be B
            return Comparison(
                a,
                a_label,
                problem=(
                    f"A and this run are of different inputs ({error}): run A's "
                    "input again, or keep this run as the new A"
                ),
            )
        return Comparison(a, a_label, b, b_label, difference)

    def compare_precisions(
        self, precisions: Sequence[str] = ("bfloat16", "int8")
    ) -> PrecisionComparison:
        """Run the input on screen at other precisions; how far each moves it.

        Each precision is a copy of the backbone with the same float weights
        (`model.precision.with_precision`), run where the Trace on screen
        ran. The Trace on screen, A, and the backbone stay as they are.
        """
        from distil_explorer.analysis.compare import compare_traces
        from distil_explorer.model.precision import check_precision, with_precision

        if self.trace is None:
            raise ValueError("compare precisions: no Trace yet; allowed: run first")
        if isinstance(precisions, str) or not precisions:
            raise ValueError(
                f"precisions={precisions!r}: allowed: a non-empty list such as "
                "['bfloat16', 'int8']"
            )
        chosen = tuple(check_precision("precisions", p) for p in precisions)
        reference = self.trace
        inputs: Any = {
            "token_ids": reference.token_ids,
            "padding_mask": reference.padding_mask,
        }
        runner = self._runner(reference.backend, reference.device)
        traces = []
        for precision in chosen:
            variant = with_precision(self.backbone, precision)
            traces.append(runner.capture(variant, inputs, keep_qk=False))
        differences = tuple(compare_traces(reference, t) for t in traces)
        return PrecisionComparison(reference, chosen, tuple(traces), differences)

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
        from distil_explorer.corpus import corpus_statistics, demo_corpus

        self._require_backbone("corpus statistics")
        if self.tokenizer is None:
            raise ValueError(
                f"corpus statistics: this backbone has no tokenizer "
                f"({self.tokenizer_problem}); allowed: build a preset with one"
            )
        if count is not None and (
            isinstance(count, bool)
            or not isinstance(count, (int, np.integer))
            or count < 1
        ):
            raise ValueError(f"count={count!r}: allowed: an int >= 1, or None")
        if not isinstance(source, str) or not source.strip():
            raise ValueError(
                f"source={source!r}: allowed: 'demo' or the path of a text file"
            )
        if source == "demo":
            texts = demo_corpus(None if count is None else int(count))
        else:
            texts = _first_lines(source, count)
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

    # --- plumbing ---

    # --- attribute ---

    @property
    def attribution(self):
        """The `Attribution` of the Trace on screen, or None.

        It belongs to the Trace it was computed for: a new run, an
        intervention or a build (anything that changes `trace`) makes it
        None, so a stale attribution is never shown.
        """
        if self._attribution is None or self._attribution[0] is not self.trace:
            return None
        return self._attribution[1]

    def attribute(
        self,
        target: Any = "cls_norm",
        other_text: str | None = None,
        method: str = "integrated_gradients",
        steps: int | None = None,
    ):
        """Attribute a target to the tokens of the Trace on screen.

        Runs `distil_explorer.attribute` in this process (torch or jax) on
        the Trace's first sequence, as it was run (an intervention included).

        Args:
            target: "cls_norm", "similarity" (with `other_text`), or a
                callable target (see `attribute`).
            other_text: the second text of a "similarity" target.
            method: an `attribute` method.
            steps: integration steps; None: the default.
        """
        from distil_explorer.attribution import DEFAULT_STEPS, attribute
        from distil_explorer.model.targets import cls_norm_target, similarity_target

        self._require_backbone("attribute")
        if self.trace is None:
            raise ValueError("attribute: no Trace yet; allowed: run some text first")
        if target == "cls_norm":
            chosen = cls_norm_target()
        elif target == "similarity":
            if not isinstance(other_text, str) or not other_text.strip():
                raise ValueError(
                    f"other_text={other_text!r}: a similarity target needs a second "
                    "text; allowed: a non-empty str"
                )
            if self.tokenizer is None:
                raise ValueError(
                    f"other_text: this backbone has no tokenizer "
                    f"({self.tokenizer_problem}); allowed: the cls_norm target"
                )
            chosen = similarity_target(other_text, self.tokenizer)
        elif callable(target):
            chosen = target
        else:
            raise ValueError(
                f"target={target!r}: allowed: 'cls_norm', 'similarity' or a callable"
            )
        trace = self.trace
        length = int(trace.padding_mask[0].sum())
        inputs = {
            "token_ids": trace.token_ids[:1, :length],
            "padding_mask": trace.padding_mask[:1, :length],
        }
        if trace.tokens is not None:
            from distil_explorer.tokenizer import Encoding

            inputs = Encoding(**inputs, tokens=(trace.tokens[0][:length],))
        found = attribute(
            self.backbone,
            inputs,
            chosen,
            method=method,
            steps=DEFAULT_STEPS if steps is None else steps,
            tokenizer=self.tokenizer,
        )
        self._attribution = (trace, found)
        return found

    def close(self) -> None:
        """Stop every worker process the session started."""
        for runner in self._runners.values():
            runner.close()
        self._runners.clear()

    def _require_backbone(self, what: str) -> None:
        if self.backbone is None:
            raise ValueError(f"{what}: no backbone yet; allowed: build one first")

    def _limit(self, max_length: Any) -> int:
        top = self.backbone.max_sequence_length
        if max_length is None:
            return top
        if isinstance(max_length, bool) or not isinstance(
            max_length, (int, np.integer)
        ):
            raise ValueError(f"max_length={max_length!r}: allowed: an int, 1..{top}")
        if max_length < 1:
            raise ValueError(f"max_length={max_length}: allowed: 1..{top}")
        return min(int(max_length), top)

    def _prepare(self, inputs: Any, limit: int) -> Any:
        if isinstance(inputs, str):
            if self.tokenizer is None:
                raise ValueError(
                    f"text: this backbone has no tokenizer ({self.tokenizer_problem});"
                    " allowed: token ids, or build a preset with a tokenizer"
                )
            return self.tokenizer.encode_at_most(inputs, limit)
        if isinstance(inputs, Mapping):
            return dict(inputs)
        try:
            items = list(inputs)
        except TypeError:
            raise ValueError(
                f"inputs={type(inputs).__name__}: allowed: text (str), a sequence "
                "of token ids, or a dict of token_ids and padding_mask"
            ) from None
        bad = [
            i
            for i in items
            if isinstance(i, bool) or not isinstance(i, (int, np.integer))
        ]
        if not items or bad:
            raise ValueError(
                f"token_ids={items[:8]!r}: allowed: a non-empty sequence of ints"
                + (f" ({bad[0]!r} is not one)" if bad else "")
            )
        ids = np.asarray(items, dtype="int64")[None, :limit].astype("int32")
        return {"token_ids": ids, "padding_mask": np.ones_like(ids)}

    def _runner(self, backend: str | None, device: str | None):
        from distil_explorer.runtime.runner import Runner

        key = (backend, device)
        if key not in self._runners:
            self._runners[key] = Runner(backend=backend, device=device)
        return self._runners[key]


def _tokenizer_for(preset: str) -> tuple[Any, str | None]:
    """The preset's tokenizer, or (None, one sentence saying why there is none)."""
    from distil_explorer.tokenizer import DistilBertTokenizer

    try:
        return DistilBertTokenizer.from_preset(preset), None
    except (OSError, ValueError, ConnectionError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        why = f"{type(error).__name__}: {first}" if first else type(error).__name__
        if preset in backbone_presets:
            return None, f"the tokenizer of {preset} could not be read ({why})"
        return None, f"the tokenizer in {preset} could not be read ({why})"


def _first_lines(path: str, count: int | None) -> list[str]:
    """The first `count` non-empty lines of a text file (all with None)."""
    from distil_explorer.corpus_texts import text_source

    start, _ = text_source(path, "text")
    texts = []
    for text in start():
        if count is not None and len(texts) >= count:
            break
        texts.append(text)
    return texts
