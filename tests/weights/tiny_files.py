"""Tiny preset and checkpoint directories written by hand (no transformers import).

Shared by tests/weights and tests/fuzz: a keras-hub preset copied from the
committed fixture, and a transformers DistilBERT checkpoint of random
weights in the names `DistilBertModel.save_pretrained` uses.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

FIXTURE = Path(__file__).parents[1] / "fixtures" / "keras_hub_tiny"
KERAS_HUB_PRESET = FIXTURE / "preset"

HF_CONFIG = {
    "model_type": "distilbert",
    "activation": "gelu",
    "sinusoidal_pos_embds": False,
    "vocab_size": 30,
    "dim": 8,
    "n_layers": 1,
    "n_heads": 2,
    "hidden_dim": 16,
    "max_position_embeddings": 12,
    "dropout": 0.0,
}


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` (hidden ones too), relative path -> bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def keras_hub_preset(directory: Path) -> Path:
    """A copy of the committed tiny keras-hub preset at `directory`."""
    shutil.copytree(KERAS_HUB_PRESET, directory)
    return directory


def hf_state(config: dict = HF_CONFIG, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    dim, inner = config["dim"], config["hidden_dim"]

    def r(*shape):
        return rng.normal(scale=0.2, size=shape).astype("float32")

    state = {
        "embeddings.word_embeddings.weight": r(config["vocab_size"], dim),
        "embeddings.position_embeddings.weight": r(
            config["max_position_embeddings"], dim
        ),
        "embeddings.LayerNorm.weight": 1 + r(dim),
        "embeddings.LayerNorm.bias": r(dim),
    }
    shapes = {
        "attention.q_lin": (dim, dim),
        "attention.k_lin": (dim, dim),
        "attention.v_lin": (dim, dim),
        "attention.out_lin": (dim, dim),
        "ffn.lin1": (inner, dim),
        "ffn.lin2": (dim, inner),
    }
    for i in range(config["n_layers"]):
        prefix = f"transformer.layer.{i}."
        for name, shape in shapes.items():
            state[f"{prefix}{name}.weight"] = r(*shape)
            state[f"{prefix}{name}.bias"] = r(shape[0])
        for norm in ("sa_layer_norm", "output_layer_norm"):
            state[f"{prefix}{norm}.weight"] = 1 + r(dim)
            state[f"{prefix}{norm}.bias"] = r(dim)
    return state


def hf_checkpoint(directory: Path, sharded: bool = False) -> Path:
    """A transformers DistilBERT directory: config.json + safetensors."""
    from safetensors.numpy import save_file

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(HF_CONFIG))
    state = hf_state()
    if not sharded:
        save_file(state, directory / "model.safetensors")
        return directory
    names = sorted(state)
    half = len(names) // 2
    shards = {"model-00001-of-00002.safetensors": names[:half]}
    shards["model-00002-of-00002.safetensors"] = names[half:]
    weight_map = {}
    for file, keys in shards.items():
        save_file({k: state[k] for k in keys}, directory / file)
        weight_map.update({k: file for k in keys})
    index = {"metadata": {}, "weight_map": weight_map}
    (directory / "model.safetensors.index.json").write_text(json.dumps(index))
    return directory
