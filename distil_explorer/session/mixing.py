"""Context mixing of the Trace on screen, for the explorer: when it can be
computed here, and computed once per Trace.

`Session.context_mixing(method)` calls `MixingCache.of`; the explorer asks
`mixing_problem` before it offers the weightings. Context mixing runs the
backbone in this process: a Trace captured in a worker (another backend) or
with heads ablated would not be the model that made it.
"""

from __future__ import annotations

import reprlib
from typing import Any

from distil_explorer.mixing.result import METHODS


def mixing_problem(backbone: Any, trace: Any) -> str | None:
    """Why the context mixing of `trace` cannot be computed here; None when it can.

    Examples:
    ```python
    mixing_problem(session.backbone, session.trace)  # None, or one sentence
    ```
    """
    from distil_explorer.runtime.backends import current_backend

    if backbone is None:
        return "no backbone yet: build one first"
    if trace is None:
        return "no Trace yet: run first"
    here = current_backend()
    if trace.backend != here:
        return (
            f"this Trace ran on {trace.backend} in a worker process; context "
            f"mixing runs here, on {here}: run on {here} for it"
        )
    if trace.ablated_heads:
        return "this Trace ran with heads ablated; context mixing has no ablation"
    return None


def mixing_offer(backbone: Any, trace: Any) -> tuple[tuple[str, ...], str]:
    """(the methods the explorer can offer for `trace`, why not: "" or a sentence).

    Examples:
    ```python
    mixing_offer(backbone, trace)  # (('value_zeroing', 'alti'), '')
    ```
    """
    problem = mixing_problem(backbone, trace)
    return ((), problem) if problem else (METHODS, "")


class MixingCache:
    """The `ContextMixing` of one Trace per method; a new Trace starts afresh.

    Examples:
    ```python
    cache = MixingCache()
    cache.of(backbone, trace, "alti")  # computed
    cache.of(backbone, trace, "alti")  # the same object, not recomputed
    ```
    """

    def __init__(self) -> None:
        self._trace: Any = None
        self._found: dict[str, Any] = {}

    def held(self, trace: Any) -> tuple:
        """The ContextMixing(s) computed for `trace` so far."""
        return tuple(self._found.values()) if trace is self._trace else ()

    def of(self, backbone: Any, trace: Any, method: str) -> Any:
        """`method`'s context mixing of every sequence of `trace`, computed
        here once (ValueError saying why where it cannot be)."""
        from distil_explorer.mixing import context_mixing
        from distil_explorer.tokenizer import Encoding

        if method not in METHODS:
            raise ValueError(
                f"method={reprlib.repr(method)}: allowed: {', '.join(METHODS)}"
            )
        problem = mixing_problem(backbone, trace)
        if problem is not None:
            raise ValueError(f"context mixing: {problem}")
        if trace is not self._trace:
            self._trace, self._found = trace, {}
        if method not in self._found:
            inputs = {"token_ids": trace.token_ids, "padding_mask": trace.padding_mask}
            if trace.tokens is not None:
                inputs = Encoding(**inputs, tokens=trace.tokens)
            self._found[method] = context_mixing(backbone, inputs, method)
        return self._found[method]
