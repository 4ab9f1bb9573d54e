"""Which Keras backends are installed here, and which devices each one sees.

Nothing here imports a framework to answer "is it installed": that is
`importlib.util.find_spec`. Listing devices does import the framework, so
for any backend other than this process's own the question goes to a short
subprocess (one backend per process), and the answer is cached.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from distil_explorer.runtime.devices import jax_device_name, normalize_device

BACKENDS = ("torch", "jax", "tensorflow", "openvino", "numpy")
# Keras's numpy and openvino backends run inference only; numpy's imports
# jax and scipy internally, openvino's scipy (neither a keras dependency).
_REQUIRES = {
    "torch": ("torch",),
    "jax": ("jax", "jaxlib"),
    "tensorflow": ("tensorflow",),
    "openvino": ("openvino", "scipy"),
    "numpy": ("numpy", "jax", "jaxlib", "scipy"),
}
# Backends whose Keras runs on the CPU only here (Keras's openvino backend
# compiles for OpenVINO's "CPU" device and takes no `keras.device`).
_CPU_ONLY = ("numpy", "openvino")
_QUERY_TIMEOUT_S = 180.0
_device_cache: dict[str, tuple[str, ...]] = {}
_device_lock = threading.Lock()


def available_backends() -> list[str]:
    """The Keras backends that can run here, in the order of `BACKENDS`.

    Examples:
    ```python
    available_backends()  # ["torch", "jax", "tensorflow", "openvino", "numpy"]
    ```
    """
    return [name for name in BACKENDS if all(map(_installed, _REQUIRES[name]))]


def current_backend() -> str:
    """The backend this process runs Keras on (or will, once keras is imported).

    Examples:
    ```python
    current_backend()  # "torch" unless KERAS_BACKEND says otherwise
    ```
    """
    keras = sys.modules.get("keras")
    backend = getattr(keras, "backend", None)
    if backend is not None and hasattr(backend, "backend"):
        return backend.backend()
    # distil_explorer/__init__ has set the default (torch) by now.
    return os.environ.get("KERAS_BACKEND", "torch").lower()


def check_backend(backend: str | None) -> str:
    """Return `backend` (None: this process's) if installed, else raise ValueError.

    Examples:
    ```python
    check_backend("jax")  # "jax", or ValueError listing what is installed
    ```
    """
    if backend is None:
        return current_backend()
    installed = available_backends()
    if not isinstance(backend, str) or backend.lower() not in BACKENDS:
        raise ValueError(
            f"backend={backend!r}: not a Keras backend; allowed: {installed} "
            f"(installed here) out of {list(BACKENDS)}"
        )
    backend = backend.lower()
    if backend not in installed:
        missing = [m for m in _REQUIRES[backend] if not _installed(m)]
        raise ValueError(
            f"backend={backend!r}: not installed (missing {missing}); "
            f"allowed: {installed}"
        )
    return backend


def available_devices(backend: str | None = None) -> list[str]:
    """The devices `backend` sees, named as `Runner(device=...)` accepts them.

    This process's backend is asked directly; any other backend is asked
    once in a short subprocess (a few seconds: it imports the framework)
    and the answer is cached for the life of this process.

    Args:
        backend: str or None. "torch", "jax", "tensorflow", "openvino" or
            "numpy";
            None means this process's backend.

    Examples:
    ```python
    available_devices("torch")  # ["cpu"], or ["cpu", "cuda:0", "cuda:1"]
    available_devices("jax")  # asked in a subprocess from a torch process
    ```
    """
    backend = check_backend(backend)
    if backend in _CPU_ONLY:
        return ["cpu"]
    if backend == current_backend():
        return list_devices(backend)
    with _device_lock:
        if backend not in _device_cache:
            _device_cache[backend] = tuple(_query_in_subprocess(backend))
        return list(_device_cache[backend])


def check_device(backend: str, device: str | None) -> str | None:
    """Return `device` spelled our way if `backend` sees it, else raise ValueError.

    None (let Keras choose) and "cpu" (every backend has one) are accepted
    without asking the backend.

    Examples:
    ```python
    check_device("torch", "GPU:0")  # "cuda:0" where torch sees a GPU
    ```
    """
    if device is None:
        return None
    if not isinstance(device, str):
        raise ValueError(
            f"device={device!r}: must be a string; allowed: "
            f"{available_devices(backend)} or None"
        )
    name = normalize_device(device)
    if name == "cpu":
        return name
    devices = available_devices(backend)
    if name not in devices:
        raise ValueError(
            f"device={device!r}: backend={backend!r} does not see it; "
            f"allowed: {devices} or None"
        )
    return name


def list_devices(backend: str) -> list[str]:
    """Ask `backend`'s framework, in this process, which devices it sees."""
    if backend == "torch":
        import torch

        names = ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        mps = getattr(torch.backends, "mps", None)
        return names + (["mps"] if mps is not None and mps.is_available() else [])
    if backend == "jax":
        import jax

        accelerators = [d for d in jax.devices() if d.platform != "cpu"]
        return ["cpu"] + [jax_device_name(d) for d in accelerators]
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        return ["cpu"] + [f"cuda:{i}" for i in range(len(gpus))]
    return ["cpu"]


def worker_environment(backend: str) -> dict[str, str]:
    """The environment of a child process that runs Keras on `backend`.

    A source checkout's root goes on PYTHONPATH, so a child imports this
    very `distil_explorer` even when it is not installed (a site-packages
    directory never does: ahead of the standard library it could shadow it).
    """
    environment = {
        **os.environ,
        "KERAS_BACKEND": backend,
        # TensorFlow's C++ start-up banner is noise in a worker's stderr.
        "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
    }
    root = Path(__file__).resolve().parents[2]
    if root.name not in ("site-packages", "dist-packages"):
        path = os.environ.get("PYTHONPATH")
        environment["PYTHONPATH"] = str(root) + (os.pathsep + path if path else "")
    return environment


def _query_in_subprocess(backend: str) -> list[str]:
    code = (
        "import json, sys\n"
        "from distil_explorer.runtime.backends import list_devices\n"
        "print(json.dumps(list_devices(sys.argv[1])))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, backend],
        env=worker_environment(backend),
        capture_output=True,
        text=True,
        timeout=_QUERY_TIMEOUT_S,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-10:])
        raise RuntimeError(
            f"backend={backend!r}: listing its devices in a subprocess failed "
            f"(exit code {done.returncode}); its stderr ended with:\n{tail}"
        )
    return json.loads(lines[-1])


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
