"""Name devices as strings users can pass back: "cpu", "cuda:0", "mps", "tpu:0".

One naming for every backend, so a Trace's `device` and a Runner's `device`
read the same whichever framework ran; `keras_device_name` translates back
to what `keras.device` expects on each backend.
"""

from __future__ import annotations

from distil_explorer.model.tensors import device_of, jax_device_name

__all__ = ["device_of", "jax_device_name", "keras_device_name", "normalize_device"]


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
