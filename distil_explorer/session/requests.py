"""What a person asks the explorer for, and the plain values it answers with.

`BuildRequest` (what to build), `Timings` (how long the last action took),
`Comparison` and `PrecisionComparison` (what the Compare tab shows) and
`parse_token_ids` (ids as typed). No framework is imported here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from distil_explorer.config import (
    CONFIG_FIELDS,
    check_config,
    check_precision,
)

Progress = Callable[[str, int, int], None]


def no_progress(step: str, done: int, total: int) -> None:
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
