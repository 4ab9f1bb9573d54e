"""Tensor helpers for the model side: a tensor as numpy, and the device it is on.

Every backend's tensors (torch, jax, tensorflow, numpy) go through these two,
so a Trace's arrays and its `device` read the same whichever framework ran.
Importing this module never imports a framework.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np


def to_numpy(value: Any) -> np.ndarray:
    """`value` (a backend tensor, numpy array or nested list) as a numpy array.

    Torch CPU tensors are shared, not copied; tensors on an accelerator are
    copied to the host. Keras is used only when it is imported already, so a
    process that holds only numpy inputs never loads a framework.

    Examples:
    ```python
    to_numpy(torch.ones(2))  # array([1., 1.], dtype=float32)
    to_numpy([[1, 2]]).shape  # (1, 2)
    ```
    """
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach"):  # torch, possibly on an accelerator
        return value.detach().cpu().numpy()
    if "keras" in sys.modules and not isinstance(value, (list, tuple, int, float)):
        from keras import ops

        return ops.convert_to_numpy(value)
    return np.asarray(value)


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


def _numpy_types() -> tuple[type, ...]:
    return (np.ndarray, np.generic)
