"""Causal tests: activation patching and head importance or ablation.

`patching.patch_activations` swaps hidden states between a clean and a
corrupted run; `heads.head_importance` gates attention heads. Both run on
backend tensors in `model/interventions.py` and return plain numpy
(`result.Patching`, a float64 (L, H) array).
"""

from distil_explorer.causal.heads import METHODS, head_importance
from distil_explorer.causal.patching import patch_activations
from distil_explorer.causal.result import Patching

__all__ = ["METHODS", "Patching", "head_importance", "patch_activations"]
