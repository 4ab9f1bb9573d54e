"""The checkpoint the context-mixing and causal tests share: a random tiny
transformers DistilBERT (every parameter drawn, biases included), our backbone
of its weights, its float64 numpy oracle, and a tiny tokenizer."""

import numpy as np

from tests.factories import random_transformers_distilbert
from tests.numpy_distilbert import NumpyDistilBert

HEADS, DIM = 4, 16
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "dog", "sat"]
WORDS += ["on", "mat", "a", "big", "rug", "."]


def checkpoint():
    """(our backbone, the numpy oracle, inputs (B=2, T=8) with padding)."""
    model, backbone = random_transformers_distilbert(scale=0.5, heads=HEADS, dim=DIM)
    ids = np.array([[2, 7, 11, 5, 9, 3, 1, 4], [2, 6, 8, 3, 0, 0, 0, 0]], "int32")
    mask = np.array([[1] * 8, [1] * 4 + [0] * 4], "int32")
    return backbone, NumpyDistilBert(model), {"token_ids": ids, "padding_mask": mask}


def sensitive_checkpoint():
    """(our backbone, the numpy oracle): the checkpoint with the feed-forward
    outputs (lin2, and lin1's bias) scaled by 0.1.

    With every weight drawn at scale 0.5, the feed-forward output drowns the
    residual stream, and the last hidden states barely depend on the input
    (changing one token moves them by ~0.005 per unit): a patching effect,
    a ratio of such differences, would then measure float32 rounding.
    """
    import torch

    from distil_explorer.weights.assign import assign_weights
    from distil_explorer.weights.transformers_format import backbone_weights

    model, backbone = random_transformers_distilbert(scale=0.5, heads=HEADS, dim=DIM)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "ffn.lin2" in name or "ffn.lin1.bias" in name:
                parameter.mul_(0.1)
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    assign_weights(backbone, backbone_weights(model.config.to_dict(), state))
    return backbone, NumpyDistilBert(model)


def tokenizer():
    from distil_explorer import DistilBertTokenizer

    return DistilBertTokenizer(WORDS, lowercase=True)
