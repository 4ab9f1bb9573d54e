"""`TraceResults`: what the Session computed, each tied to the Trace it is of.

An attribution, a patching, head importance, class probabilities or the
layer lens describe one Trace: once the Trace on screen changes (a run, an
intervention, a build), they are stale. The Session keeps them in one
`TraceResults`, which hands a result back only for the very Trace (and key)
it was computed for, so no view can show a stale one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class TraceResults:
    """Results by name, each of one Trace (and an optional key).

    Examples:
    ```python
    results = TraceResults()
    results.keep("attribution", trace, found)
    results.get("attribution", trace) is found  # True
    results.get("attribution", other_trace)  # None: of another Trace
    results.computed("lens", trace, lambda: layer_predictions(task, trace))
    ```
    """

    def __init__(self) -> None:
        self._held: dict[str, tuple[Any, Any, Any]] = {}

    def get(self, name: str, trace: Any, key: Any = None) -> Any:
        """The result `name` of `trace` (and `key`), or None."""
        held = self._held.get(name)
        if held is None or held[0] is not trace or held[1] != key:
            return None
        return held[2]

    def keep(self, name: str, trace: Any, value: Any, key: Any = None) -> Any:
        """Keep `value` as the result `name` of `trace` (and `key`); returns it."""
        self._held[name] = (trace, key, value)
        return value

    def computed(
        self, name: str, trace: Any, compute: Callable[[], Any], key: Any = None
    ) -> Any:
        """The result `name` of `trace`, from `compute()` unless already kept."""
        found = self.get(name, trace, key)
        return found if found is not None else self.keep(name, trace, compute(), key)
