"""Builders shared by test modules: tiny models with every parameter random."""

import pytest


def random_transformers_distilbert(scale: float, heads: int = 4, dim: int = 16):
    """A tiny transformers DistilBertModel and our backbone of its weights.

    transformers initialises biases to 0 and LayerNorms to the identity; an
    oracle check on such a model cannot see a term that drops a bias. Here
    every parameter is drawn (normal, times `scale`; LayerNorm gains around 1).

    Returns:
        (the Hugging Face model in eval mode, a `DistilBertBackbone`).
    """
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from distil_explorer import DistilBertBackbone
    from distil_explorer.weights.assign import assign_weights
    from distil_explorer.weights.transformers_format import (
        backbone_config,
        backbone_weights,
    )

    torch.manual_seed(0)
    config = transformers.DistilBertConfig(
        vocab_size=30,
        dim=dim,
        n_layers=2,
        n_heads=heads,
        hidden_dim=24,
        max_position_embeddings=20,
        attn_implementation="eager",
    )
    model = transformers.DistilBertModel(config).eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator) * scale
            parameter.copy_(noise + (1.0 if "LayerNorm.weight" in name else 0.0))
    hf_config = model.config.to_dict()
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    backbone = DistilBertBackbone(**backbone_config(hf_config))
    assign_weights(backbone, backbone_weights(hf_config, state))
    return model, backbone
