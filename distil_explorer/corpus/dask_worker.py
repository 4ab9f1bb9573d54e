"""What runs inside a Dask worker for `corpus_statistics(..., engine="dask")`.

Imported only where dask.distributed is installed: `runtime.cluster` loads
it when the Dask engine starts, and the workers when they unpickle a task.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from distributed import WorkerPlugin, get_worker

from distil_explorer.runtime.worker import build_model

_MODELS = "_distil_explorer_models"


class ModelPlugin(WorkerPlugin):
    """Builds a backbone once on each worker (and on workers that join later).

    Args:
        key: str. The name tasks find the model by.
        spec: a model spec, as `runtime.worker.build_model` takes it.
    """

    def __init__(self, key: str, spec: tuple) -> None:
        self.key, self.spec = key, spec

    def setup(self, worker) -> None:
        models = worker.__dict__.setdefault(_MODELS, {})
        models[self.key] = build_model(self.spec, None)

    def teardown(self, worker) -> None:
        worker.__dict__.get(_MODELS, {}).pop(self.key, None)


def on_worker(function: Callable, key: str, item: Any) -> Any:
    """`function(backbone, item)` with the backbone this worker built for `key`."""
    models = get_worker().__dict__.get(_MODELS, {})
    if key not in models:
        raise RuntimeError(
            f"model {key}: not built on this worker; allowed: run again (the "
            "engine registers it on every worker when it starts)"
        )
    return function(models[key], item)
