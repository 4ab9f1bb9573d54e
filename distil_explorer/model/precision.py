"""The same backbone at another precision: a dtype policy or a quantization mode.

For questions like "how far does int8 move every attention map?": the copy
has the same architecture and the same float weights, then is cast (a dtype
policy) or quantized (Keras's own `quantize`), so any difference comes from
the precision alone.
"""

from __future__ import annotations

from distil_explorer.config import QUANTIZATIONS, check_precision


def with_precision(backbone, precision: str):
    """A new backbone like `backbone` (same config and float weights) at `precision`.

    Args:
        backbone: a float `DistilBertBackbone` (not quantized).
        precision: str. One of `config.PRECISIONS`: a dtype policy (the copy
            is built with it) or a quantization mode in `QUANTIZATIONS` (a
            float32 copy, then `quantize(precision)`).

    Examples:
    ```python
    int8 = with_precision(backbone, "int8")
    int8.quantization_modes  # ("int8",)
    with_precision(backbone, "bfloat16").dtype_policy.name  # "bfloat16"
    ```
    """
    check_precision("precision", precision)
    if backbone.quantization_modes:
        raise ValueError(
            f"backbone: already quantized ({', '.join(backbone.quantization_modes)});"
            " allowed: a float backbone, e.g. rebuilt from its preset"
        )
    config = backbone.get_config()
    config["dtype"] = precision if precision not in QUANTIZATIONS else "float32"
    copy = type(backbone).from_config(config)
    copy.set_weights(backbone.get_weights())
    if precision in QUANTIZATIONS:
        copy.quantize(precision)
    return copy
