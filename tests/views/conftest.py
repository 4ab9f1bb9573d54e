"""Fixtures for the app tests: an Explorer set to build the tiny keras-hub preset."""

from pathlib import Path

import pytest

PRESET = Path(__file__).parents[1] / "fixtures" / "keras_hub_tiny" / "preset"


@pytest.fixture
def app():
    pytest.importorskip("ipywidgets")
    pytest.importorskip("anywidget")
    from distil_explorer import Explorer
    from distil_explorer.views.build_panel import PATH_OR_HANDLE

    explorer = Explorer(text="the cat sat")
    explorer.build_panel.preset.value = PATH_OR_HANDLE
    explorer.build_panel.handle.value = str(PRESET)
    return explorer
