"""Name the device a backend tensor lives on, as a string users can pass back."""

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
    platform = getattr(device, "platform", None)
    if platform is not None:  # jax Device
        return "cpu" if platform == "cpu" else f"cuda:{device.id}"
    text = str(device)
    if text.startswith("/"):  # tensorflow: /job:localhost/replica:0/task:0/device:GPU:0
        kind, _, index = text.rsplit("device:", 1)[-1].partition(":")
        return "cpu" if kind == "CPU" else f"cuda:{index}"
    return text


def _numpy_types() -> tuple[type, ...]:
    import numpy as np

    return (np.ndarray, np.generic)
