"""The Compare tab's two questions: A against B, and one input at other precisions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from distil_explorer.session.requests import Comparison, PrecisionComparison


def comparison_of(
    kept: tuple[Any, str] | None, trace: Any, name: str
) -> Comparison | None:
    """Kept Trace A against `trace` (B), or why there is no B; None without A.

    Examples:
    ```python
    comparison_of((a, "torch on cpu"), b, "all_minilm_l6_v2_en").difference
    ```
    """
    from distil_explorer.analysis.compare import compare_traces, trace_label

    if kept is None:
        return None
    a, a_label = kept
    if trace is None or trace is a:
        return Comparison(a, a_label, problem="run A's input again to get a B")
    b_label = trace_label(trace)
    b_label = f"{name}: {b_label}" if name else b_label
    try:
        difference = compare_traces(a, trace)
    except ValueError as error:  # a new input is no error: it cannot be B
        return Comparison(
            a,
            a_label,
            problem=(
                f"A and this run are of different inputs ({error}): run A's "
                "input again, or keep this run as the new A"
            ),
        )
    return Comparison(a, a_label, trace, b_label, difference)


def precision_comparison(
    backbone: Any, reference: Any, runner: Any, precisions: Sequence[str]
) -> PrecisionComparison:
    """`reference`'s input run by `runner` on copies of `backbone` at `precisions`.

    Examples:
    ```python
    precision_comparison(backbone, trace, Runner(), ["bfloat16"]).differences
    ```
    """
    from distil_explorer.analysis.compare import compare_traces
    from distil_explorer.model.precision import check_precision, with_precision

    if isinstance(precisions, str) or not precisions:
        raise ValueError(
            f"precisions={precisions!r}: allowed: a non-empty list such as "
            "['bfloat16', 'int8']"
        )
    chosen = tuple(check_precision("precisions", p) for p in precisions)
    inputs: Any = {
        "token_ids": reference.token_ids,
        "padding_mask": reference.padding_mask,
    }
    traces = []
    for precision in chosen:
        variant = with_precision(backbone, precision)
        traces.append(runner.capture(variant, inputs, keep_qk=False))
    differences = tuple(compare_traces(reference, t) for t in traces)
    return PrecisionComparison(reference, chosen, tuple(traces), differences)
