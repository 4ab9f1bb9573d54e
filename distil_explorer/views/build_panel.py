"""The Build panel: choose a preset or a custom config, then build a backbone."""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from distil_explorer.config import (
    CONFIG_FIELDS,
    OFFLINE_PRESET,
    PRECISIONS,
    backbone_presets,
    check_config,
    count_parameters,
)
from distil_explorer.session import BuildRequest
from distil_explorer.views.feedback import ErrorArea
from distil_explorer.views.html_text import text as escaped

CUSTOM = "custom config"
PATH_OR_HANDLE = "local path or kaggle:// / hf:// handle"
# The form's integer fields; dropout has its own box, dtype is "precision".
CONFIG_FIELDS = tuple(f for f in CONFIG_FIELDS if f not in ("dropout", "dtype"))
_DEFAULT_CUSTOM = {
    "vocabulary_size": 30552,
    "num_layers": 4,
    "num_heads": 4,
    "hidden_dim": 256,
    "intermediate_dim": 512,
    "dropout": 0.1,
    "max_sequence_length": 128,
}


def form_config(values: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """Validate custom-config form values; (config or None, message for people).

    Examples:
    ```python
    form_config({**defaults, "hidden_dim": 250, "num_heads": 4})
    # (None, "hidden_dim=250: not divisible by num_heads=4; ...")
    ```
    """
    try:
        config = check_config(**values)
    except ValueError as error:
        return None, str(error)
    return config, f"{count_parameters(config):,} parameters"


def preset_choices() -> list[str]:
    names = [OFFLINE_PRESET] + sorted(
        n for n in backbone_presets if n != OFFLINE_PRESET
    )
    return [*names, PATH_OR_HANDLE, CUSTOM]


class BuildPanel:
    """Widgets of the Build tab; `request()` reads them into a BuildRequest.

    The custom-config form is checked as a person types (`config.check_config`,
    no framework loaded), with the parameter count of a valid config.
    """

    def __init__(self) -> None:
        self.preset = w.Dropdown(
            options=preset_choices(), value=OFFLINE_PRESET, description="preset"
        )
        self.handle = w.Text(
            placeholder="./my_preset or hf://owner/repo", description="path"
        )
        self.fields = {
            name: w.BoundedIntText(
                value=_DEFAULT_CUSTOM[name],
                min=-(10**9),
                max=10**9,
                description=name,
                style={"description_width": "150px"},
                continuous_update=True,  # checked as the person types
            )
            for name in CONFIG_FIELDS
        }
        self.fields["dropout"] = w.FloatText(
            value=0.1,
            description="dropout",
            style={"description_width": "150px"},
            continuous_update=True,
        )
        self.load_weights = w.Checkbox(value=True, description="load weights")
        # One precision control for presets and custom configs alike.
        self.precision = w.Dropdown(
            options=list(PRECISIONS), value="float32", description="precision"
        )
        self.message = w.HTML()
        self.button = w.Button(description="Build", button_style="primary", icon="cogs")
        self.progress = w.IntProgress(value=0, min=0, max=3, description="")
        self.status = w.HTML()
        self.error = ErrorArea()
        self.custom_box = w.VBox(list(self.fields.values()))
        self.widget = w.VBox(
            [
                w.HBox([self.preset, self.load_weights]),
                self.precision,
                self.handle,
                self.custom_box,
                self.message,
                w.HBox([self.button, self.progress]),
                self.error.widget,
                self.status,
            ]
        )
        for control in (self.preset, *self.fields.values()):
            control.observe(self._refresh, names="value")
        self._refresh()

    def _values(self) -> dict[str, Any]:
        return {name: control.value for name, control in self.fields.items()}

    def _refresh(self, change: Any = None) -> None:
        choice = self.preset.value
        self.custom_box.layout.display = None if choice == CUSTOM else "none"
        self.handle.layout.display = None if choice == PATH_OR_HANDLE else "none"
        # A custom config has random weights: nothing to load, nothing shown.
        self.load_weights.layout.display = "none" if choice == CUSTOM else None
        if choice == CUSTOM:
            config, text = form_config(self._values())
            colour = "#067d17" if config else "#b00020"
            self.message.value = f"<span style='color:{colour}'>{escaped(text)}</span>"
            self.button.disabled = config is None
        elif choice in backbone_presets:
            meta = backbone_presets[choice]["metadata"]
            self.message.value = (
                f"{meta['params']:,} parameters. {escaped(meta['description'])}"
            )
            self.button.disabled = False
        else:
            self.message.value = (
                "A keras-hub or transformers preset directory, or a handle."
            )
            self.button.disabled = False

    def show_progress(self, step: str, done: int, total: int) -> None:
        """Say what the build is doing now (the bar and one line of text)."""
        self.progress.max, self.progress.value = max(total, 1), done
        self.status.value = escaped(step) + ("" if done >= total else " ...")

    def show_status(self, text: str) -> None:
        """One line under the button (what was built, or why nothing was)."""
        self.status.value = text

    def request(self) -> BuildRequest:
        choice = self.preset.value
        if choice == CUSTOM:
            config, text = form_config(self._values())
            if config is None:
                raise ValueError(text)
            return BuildRequest(config=config, precision=self.precision.value)
        preset = self.handle.value.strip() if choice == PATH_OR_HANDLE else choice
        if not preset:
            raise ValueError("path: empty; allowed: a preset directory or a handle")
        return BuildRequest(
            preset,
            load_weights=self.load_weights.value,
            precision=self.precision.value,
        )
