"""Name devices as strings users can pass back: "cpu", "cuda:0", "mps", "tpu:0".

One naming for every backend, so a Trace's `device` and a Runner's `device`
read the same whichever framework ran; `keras_device_name` translates back
to what `keras.device` expects on each backend.
"""

from __future__ import annotations

from typing import Any


def device_of(tensor: Any) -> str:
    """Return "cpu", "cuda:0", "mps", ... for a torch, jax, tensorflow or numpy tensor.

    Examples:
    ```python
    device_of(torch.zeros(1))  # "cpu"
    ```
    """
    device = getattr(tensor, "device", None)
    if device is None or isinstance(tensor, _numpy_types()):
        return "cpu"
    if callable(device):  # jax arrays: .device is a method in some versions
        device = device()
    if hasattr(tensor, "devices") and not isinstance(device, str):
        device = next(iter(tensor.devices()))
    if getattr(device, "platform", None) is not None:
        return jax_device_name(device)
    text = str(device)
    if text.startswith("/"):  # tensorflow: /job:localhost/replica:0/task:0/device:GPU:0
        kind, _, index = text.rsplit("device:", 1)[-1].partition(":")
        return "cpu" if kind == "CPU" else f"cuda:{index}"
    return text


def jax_device_name(device: Any) -> str:
    """Name a `jax.Device`: "cpu", "cuda:<id>" for GPUs, "tpu:<id>" for TPUs."""
    platform = device.platform
    if platform == "cpu":
        return "cpu"
    if platform == "tpu":
        return f"tpu:{device.id}"
    return f"cuda:{device.id}"


def normalize_device(device: str) -> str:
    """Spell a device the one way this package uses.

    "gpu", "cuda", "gpu:1" and "CPU:0" become "cuda:0", "cuda:0", "cuda:1"
    and "cpu"; any other string is returned lower-cased.

    Examples:
    ```python
    normalize_device("GPU:1")  # "cuda:1"
    ```
    """
    name = device.strip().lower()
    kind, _, index = name.partition(":")
    if kind in ("gpu", "cuda"):
        return f"cuda:{index or 0}"
    if kind in ("cpu", "mps") and index in ("", "0"):
        return kind
    if kind == "tpu":
        return f"tpu:{index or 0}"
    return name


def keras_device_name(backend: str, device: str) -> str:
    """The string `keras.device` understands on `backend` for our `device` name.

    Examples:
    ```python
    keras_device_name("jax", "cuda:0")  # "gpu:0"
    keras_device_name("tensorflow", "cuda:1")  # "/GPU:1"
    ```
    """
    kind, _, index = device.partition(":")
    if backend == "jax":
        return f"gpu:{index}" if kind == "cuda" else f"{kind}:{index or 0}"
    if backend == "tensorflow":
        return f"/GPU:{index}" if kind == "cuda" else f"/{kind.upper()}:{index or 0}"
    return device


def _numpy_types() -> tuple[type, ...]:
    import numpy as np

    return (np.ndarray, np.generic)
