"""The Run panel: backend, device, text or token ids, and a Run button."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as w

from distil_explorer.runtime.backends import (
    available_backends,
    available_devices,
    current_backend,
)
from distil_explorer.session import parse_token_ids
from distil_explorer.views.feedback import ErrorArea, Progress
from distil_explorer.views.html_text import text as escaped
from distil_explorer.views.task_html import class_bars_html

MODES = ("text", "token ids")


def backend_choices() -> list[str]:
    """Backends that can run here, this process's own first."""
    current = current_backend()
    return [current] + [b for b in available_backends() if b != current]


def device_choices(backend: str) -> list[str]:
    """Devices `backend` sees; ["cpu"] when it cannot say."""
    try:
        return available_devices(backend) or ["cpu"]
    except (ValueError, OSError, RuntimeError):
        return ["cpu"]


class RunPanel:
    """Widgets of the Run tab; `request()` reads what to run and where.

    Text and token ids have a box each, so switching the mode never replaces
    what a person typed. The Explorer hands in the backends that can run and
    a function listing each one's devices (panels never ask a framework).
    "norm-weighted maps" (on by default: they cost a few percent of the
    forward pass) also captures `Trace.attention_norms`, which the head and
    model views can then show instead of the weights.
    """

    def __init__(
        self,
        text: str,
        backends: Sequence[str],
        devices: Callable[[str], list[str]],
    ) -> None:
        self._devices_of = devices
        self.backend = w.Dropdown(
            options=list(backends), value=backends[0], description="backend"
        )
        self.device = w.Dropdown(options=["cpu"], value="cpu", description="device")
        self.mode = w.ToggleButtons(options=list(MODES), value="text")
        self.text = w.Textarea(
            value=text,
            placeholder="a sentence",
            layout=w.Layout(width="100%", height="70px"),
        )
        self.ids = w.Textarea(
            value="2 10 11 12 3",
            placeholder="token ids, e.g. 101 7592 102",
            layout=w.Layout(width="100%", height="70px", display="none"),
        )
        self.max_length = w.BoundedIntText(
            value=128, min=1, max=512, description="max length"
        )
        self.norms = w.Checkbox(
            value=True,
            description="norm-weighted maps",
            indent=False,
            tooltip="also capture ||alpha f(x)|| per head (Kobayashi et al. 2020)",
            layout=w.Layout(width="auto"),
        )
        self.button = w.Button(
            description="Run", button_style="primary", icon="play", disabled=True
        )
        self.note = w.HTML()
        self.status = w.HTML("Build a backbone first (the Build tab).")
        self.progress = Progress()
        self.error = ErrorArea()
        self.classes = w.HTML()  # a classifier's class probabilities
        self.widget = w.VBox(
            [
                w.HBox([self.backend, self.device]),
                w.HBox([self.mode, self.note]),
                self.text,
                self.ids,
                w.HBox([self.max_length, self.norms, self.button]),
                self.error.widget,
                self.progress.widget,
                self.status,
                self.classes,
            ]
        )
        self.backend.observe(self._on_backend, names="value")
        self.mode.observe(self._on_mode, names="value")
        self._on_backend()

    def _on_backend(self, change: Any = None) -> None:
        choices = self._devices_of(self.backend.value) or ["cpu"]
        keep = self.device.value if self.device.value in choices else choices[0]
        self.device.options = choices
        self.device.value = keep

    def _on_mode(self, change: Any = None) -> None:
        text = self.mode.value == "text"
        self.text.layout.display = None if text else "none"
        self.ids.layout.display = "none" if text else None

    def built(self, max_sequence_length: int, tokenizer_problem: str | None) -> None:
        """Follow a new backbone: its length limit, and whether text can run."""
        self.max_length.max = max_sequence_length
        self.max_length.value = min(128, max_sequence_length)
        self.button.disabled = False
        self.status.value = ""
        if tokenizer_problem is None:
            self.note.value = ""
            return
        # Said, not silent: the sentence stays in its box for the next preset.
        self.mode.value = "token ids"
        self.note.value = (
            "<span style='color:#8a5300'>Token ids only: "
            f"{escaped(tokenizer_problem)}.</span>"
        )

    def show_run(self, line: str, tokens: int, total: int | None) -> None:
        """Say how the run went: `line`, and whether `max length` cut the
        input (`tokens` run of `total`; None: too long to count)."""
        cut = ""
        if total is not None and total > tokens:
            cut = f"{tokens} of {total:,} tokens"
        elif total is None and tokens >= self.max_length.value:
            cut = f"{tokens} tokens, the text is longer"
        if cut:
            cut = (
                f"<br><span style='color:#8a5300'><b>Cut at max length</b>: {cut}"
                f" (max length goes up to {self.max_length.max}).</span>"
            )
        self.status.value = escaped(line) + cut

    def show_classes(self, classes) -> None:
        """A classifier's class probabilities of the run on screen (None: none)."""
        self.classes.value = class_bars_html(classes)

    def request(self) -> dict[str, Any]:
        """What to run: `Session.run`'s keyword arguments."""
        if self.mode.value == "token ids":
            inputs: Any = parse_token_ids(self.ids.value)
        else:
            inputs = self.text.value
            if not inputs.strip():
                raise ValueError("text: empty; allowed: a sentence, or token ids")
        return {
            "inputs": inputs,
            "backend": self.backend.value,
            "device": self.device.value,
            "max_length": self.max_length.value,
            "norms": self.norms.value,
        }
