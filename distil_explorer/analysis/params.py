"""Parameter counts per block and component of a backbone."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

# Sublayer name in the model -> the component name shown to people.
_COMPONENTS = {
    "token_embedding": "token_embedding",
    "position_embedding": "position_embedding",
    "layer_norm": "layer_norm",
    "query": "attention.query",
    "key": "attention.key",
    "value": "attention.value",
    "attention_output": "attention.output",
    "attention_layer_norm": "attention.layer_norm",
    "ffn_intermediate": "ffn.intermediate",
    "ffn_output": "ffn.output",
    "ffn_layer_norm": "ffn.layer_norm",
}


@dataclasses.dataclass(frozen=True)
class ParameterRow:
    """One variable of a backbone.

    Attributes:
        block: "embeddings" or "layer i" (0-based, as in `Trace.attentions`).
        component: e.g. "token_embedding", "attention.query", "ffn.output".
        variable: "kernel", "bias", "embeddings", "gamma" or "beta".
        shape: the variable's shape.
        params: the number of values it holds.
    """

    block: str
    component: str
    variable: str
    shape: tuple[int, ...]
    params: int


def _row(path: str, shape: tuple[int, ...]) -> ParameterRow:
    parts = path.split("/")
    if len(parts) != 3:
        raise ValueError(
            f"variable path={path!r}: expected 'block/component/variable'; "
            "allowed: variables of a distil_explorer DistilBertBackbone"
        )
    block, sublayer, variable = parts
    if block.startswith("transformer_layer_"):
        block = "layer " + block.removeprefix("transformer_layer_")
    component = _COMPONENTS.get(sublayer, sublayer)
    return ParameterRow(block, component, variable, shape, math.prod(shape))


def parameter_table(backbone: Any) -> list[ParameterRow]:
    """List every variable of `backbone` with its block, component and size.

    Reads only `backbone.weights` (each variable's `path` and `shape`), so
    the sum of `params` equals `backbone.count_params()`.

    Examples:
    ```python
    rows = parameter_table(backbone)
    sum(r.params for r in rows) == backbone.count_params()  # True
    [r for r in rows if r.block == "layer 0" and r.component.startswith("ffn")]
    ```
    """
    return [_row(w.path, tuple(int(d) for d in w.shape)) for w in backbone.weights]


def params_by_block(rows: list[ParameterRow]) -> dict[str, int]:
    """Total parameters per block, in model order.

    Examples:
    ```python
    params_by_block(parameter_table(backbone))["embeddings"]
    ```
    """
    totals: dict[str, int] = {}
    for row in rows:
        totals[row.block] = totals.get(row.block, 0) + row.params
    return totals
