"""Where corpus batches run: in this process, or on a Dask cluster.

`open_engine` gives a function `run_all(function, items)` that returns
`[function(backbone, item) for item in items]`, in order, however it ran.

Dask (dask.distributed) rather than Ray: a local cluster of two workers
starts and runs a hundred small tasks in about 2 s where Ray takes about
14 s, it runs on a laptop, an HPC batch system or Kubernetes alike, and a
worker plugin is the documented way to set up state once per worker. Each
worker builds the backbone once, from its config and weights (the same
model spec a `Runner` worker gets), when the plugin is registered or the
worker joins; tasks find it there by key.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from distil_explorer.runtime.runner import backbone_spec

RunAll = Callable[[Callable, list], list]
_OPTIONS = ("address", "n_workers")


@contextlib.contextmanager
def open_engine(engine: str | None, backbone: Any, **options: Any) -> Iterator[RunAll]:
    """A `run_all(function, items)` on `engine`, closed when the block ends.

    Args:
        engine: None (this process) or "dask".
        backbone: the model every `function(backbone, item)` gets.
        **options: for "dask": `address` (a running scheduler; None starts
            a local cluster of `n_workers` processes for this block) and
            `n_workers` (int >= 1, default 2).

    Examples:
    ```python
    with open_engine("dask", backbone, n_workers=2) as run_all:
        run_all(count_tokens, batches)
    ```
    """
    if engine is None:
        if options:
            raise ValueError(
                f"engine options {sorted(options)}: engine=None takes none; "
                f"allowed: engine='dask' with {', '.join(_OPTIONS)}"
            )
        yield lambda function, items: [function(backbone, item) for item in items]
        return
    if engine != "dask":
        raise ValueError(f"engine={engine!r}: allowed: None (this process) or 'dask'")
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ValueError(
            f"engine options {unknown}: unknown; allowed: {', '.join(_OPTIONS)}"
        )
    with _dask_client(**options) as client, _dask_run_all(client, backbone) as run:
        yield run


@contextlib.contextmanager
def _dask_client(address: str | None = None, n_workers: int = 2):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError(
            "engine='dask': dask.distributed is not installed; allowed: pip "
            "install 'distil-explorer[corpus]'"
        ) from None
    if address is not None:
        if not isinstance(address, str) or not address.strip():
            raise ValueError(
                f"address={address!r}: allowed: a scheduler address such as "
                "'tcp://10.0.0.5:8786', or None for a local cluster"
            )
        try:
            client = Client(address, timeout=15)
        except OSError as error:
            raise ConnectionError(
                f"address={address!r}: no Dask scheduler answered ({error}); "
                "allowed: the address a running `dask scheduler` prints"
            ) from None
        with client:
            yield client
        return
    if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
        raise ValueError(f"n_workers={n_workers!r}: allowed: an int >= 1")
    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
    )
    with cluster, Client(cluster) as client:
        yield client


@contextlib.contextmanager
def _dask_run_all(client, backbone: Any) -> Iterator[RunAll]:
    from distil_explorer.corpus.dask_worker import ModelPlugin, on_worker

    key = f"distil-explorer-{uuid.uuid4().hex}"
    client.register_plugin(ModelPlugin(key, backbone_spec(backbone)), name=key)

    def run_all(function: Callable, items: list) -> list:
        count = len(items)
        futures = client.map(
            on_worker, [function] * count, [key] * count, items, pure=False
        )
        return client.gather(futures)

    try:
        yield run_all
    finally:
        # The workers (of a shared cluster, too) let go of the model.
        client.unregister_worker_plugin(key)
