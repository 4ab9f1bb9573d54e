"""The Run panel: backend, device, text or token ids, and a Run button."""

from __future__ import annotations

from typing import Any

import ipywidgets as w


def backend_choices() -> list[str]:
    """Installed Keras backends, the current one first."""
    import keras

    current = keras.backend.backend()
    try:
        from distil_explorer.runtime.backends import available_backends
    except ImportError:
        return [current]
    return [current] + [b for b in available_backends() if b != current]


def device_choices(backend: str) -> list[str]:
    try:
        from distil_explorer.runtime.backends import available_devices
    except ImportError:
        return ["cpu"]
    try:
        return available_devices(backend) or ["cpu"]
    except (ValueError, OSError, RuntimeError):
        return ["cpu"]


class RunPanel:
    """Widgets of the Run tab; `request()` reads what to run and where."""

    def __init__(self, text: str) -> None:
        backends = backend_choices()
        self.backend = w.Dropdown(
            options=backends, value=backends[0], description="backend"
        )
        self.device = w.Dropdown(options=["cpu"], value="cpu", description="device")
        self.mode = w.ToggleButtons(options=["text", "token ids"], value="text")
        self.text = w.Textarea(value=text, layout=w.Layout(width="100%", height="70px"))
        self.max_length = w.BoundedIntText(
            value=128, min=2, max=4096, description="max length"
        )
        self.button = w.Button(
            description="Run", button_style="primary", icon="play", disabled=True
        )
        self.status = w.HTML()
        self.widget = w.VBox(
            [
                w.HBox([self.backend, self.device]),
                self.mode,
                self.text,
                w.HBox([self.max_length, self.button]),
                self.status,
            ]
        )
        self.backend.observe(self._devices, names="value")
        self._devices()

    def _devices(self, change: Any = None) -> None:
        self.device.options = device_choices(self.backend.value)

    def request(self) -> dict[str, Any]:
        from distil_explorer.views.session import parse_token_ids

        value = self.text.value
        inputs = parse_token_ids(value) if self.mode.value == "token ids" else value
        return {
            "inputs": inputs,
            "backend": self.backend.value,
            "device": self.device.value,
            "max_length": self.max_length.value,
        }
