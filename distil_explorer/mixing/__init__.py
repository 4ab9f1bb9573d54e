"""Context mixing: how much each token shapes each token's layer output.

`driver.context_mixing` runs value zeroing or ALTI layer by layer
(`model/context_mixing.py`) and returns a `result.ContextMixing`, plain numpy.
"""

from distil_explorer.mixing.driver import context_mixing
from distil_explorer.mixing.result import METHODS, ContextMixing

__all__ = ["METHODS", "ContextMixing", "context_mixing"]
