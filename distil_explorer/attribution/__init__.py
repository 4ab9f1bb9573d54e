"""Token attributions: which tokens make one number the model computes.

`driver.attribute` runs the gradients (`model/gradients.py`: Captum on torch,
`jax.grad` on jax) and returns a `result.Attribution`, plain numpy.
"""

from distil_explorer.attribution.driver import (
    BASELINES,
    DEFAULT_STEPS,
    MAX_STEPS,
    METHODS,
    attribute,
)
from distil_explorer.attribution.result import Attribution

__all__ = [
    "BASELINES",
    "DEFAULT_STEPS",
    "MAX_STEPS",
    "METHODS",
    "Attribution",
    "attribute",
]
