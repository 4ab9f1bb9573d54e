"""Fixtures for the runtime tests: parity weights and runners shared per module.

Workers inherit this process's environment: pointing jax at a persistent
compilation cache makes a jax worker's first capture about 4x faster on the
second and later test runs (it compiles every op eagerly, per shape).
"""

import os
import tempfile

import numpy as np
import pytest

from distil_explorer.runtime.backends import available_backends

os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR",
    os.path.join(tempfile.gettempdir(), "distil-explorer-tests-jax-cache"),
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")


def require_backend(backend: str) -> None:
    """Skip the calling test when `backend` cannot run here."""
    if backend not in available_backends():
        pytest.skip(f"backend {backend!r} is not installed")


def cheapest_worker_backend() -> str:
    """numpy starts a worker in about half torch's time; torch is always there."""
    return "numpy" if "numpy" in available_backends() else "torch"


def parity_weights(backbone, seed: int = 0) -> dict[str, np.ndarray]:
    """Weights large enough that attention is peaked (init's 0.02 makes it flat)."""
    rng = np.random.default_rng(seed)
    weights = {}
    for variable in backbone.weights:
        values = rng.normal(scale=0.5, size=tuple(variable.shape))
        if variable.path.endswith("gamma"):
            values += 1.0
        weights[variable.path] = values.astype("float32")
    return weights


def gone(pid: int) -> bool:
    """True when no process (not even a zombie) has this pid."""
    try:
        import psutil
    except ImportError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return not psutil.pid_exists(pid)
