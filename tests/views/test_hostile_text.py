"""Hostile strings through every panel of the Explorer: shown as text, never as HTML.

Texts, second texts, file paths, token strings (a crafted vocabulary),
preset names and error messages carry `<img ...>`, `</script>`,
`<!--<script>`, quotes and `&amp;`. After each action the whole displayed
widget tree is walked: no HTML widget may hold a raw tag from them, and the
escaped form must be on screen (so the string did reach the panel).
"""

import dataclasses
import shutil
from pathlib import Path

import ipywidgets as w
import pytest

from distil_explorer.views.html_text import json_for_script, text

IMG = "<img src=x onerror=alert(1)>"
HOSTILE = ("<!--<script>", "</script>", IMG, '"q\'uote"', "&amp;")
# What must never appear raw in an HTML widget's value.
RAW = ("<img", "<script", "</script", "<!--", "<b>x</b>")
PRESET = Path(__file__).parents[1] / "fixtures" / "keras_hub_tiny" / "preset"


def test_text_escapes_content_and_attributes():
    assert text(IMG) == "&lt;img src=x onerror=alert(1)&gt;"
    assert text("&amp; \"a\" 'b'") == "&amp;amp; &quot;a&quot; &#x27;b&#x27;"
    assert text(3) == "3"


def test_json_for_script_has_no_tag_character_and_reads_back():
    import json

    value = {"tokens": [*HOSTILE, "\u2028\u2029", "a -->"]}
    data = json_for_script(value)
    for raw in ("<", ">", "&", "\u2028", "\u2029"):
        assert raw not in data
    assert json.loads(data) == value


def _displayed(widget):
    """Every widget a person can see from `widget` (children of boxes and tabs)."""
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _displayed(child)


def _html_values(app) -> list[str]:
    return [
        x.value
        for x in _displayed(app)
        if isinstance(x, (w.HTML, w.HTMLMath, w.Label)) and x.value
    ]


def _check_screen(app, *must_show: str) -> None:
    """No raw hostile tag anywhere; each of `must_show` is on screen, escaped."""
    values = _html_values(app)
    for value in values:
        lowered = value.lower()
        for raw in RAW:
            assert raw not in lowered, f"raw {raw!r} in {value[:300]!r}"
    everything = "\n".join(values)
    for shown in must_show:
        assert text(shown) in everything, f"{shown!r} not on screen (escaped)"


@pytest.fixture
def hostile_preset(tmp_path):
    """The tiny preset in a folder whose name is a tag."""
    folder = tmp_path / f"{IMG}&amp;" / "preset"
    shutil.copytree(PRESET, folder)
    return folder


def _shared_trace(trace):
    """`trace` with token strings from a crafted vocabulary (a shared Trace file):
    a WordPiece tokenizer splits "<" off every word, so only a file brings them."""
    tokens = list(trace.tokens[0])
    tokens[1 : 1 + len(HOSTILE)] = HOSTILE
    return dataclasses.replace(trace, tokens=(tuple(tokens),))


@pytest.fixture
def hostile_app(hostile_preset, monkeypatch):
    from distil_explorer import Explorer
    from distil_explorer.views import build_panel

    presets = dict(build_panel.backbone_presets)
    presets[f"{IMG}_preset"] = {
        "metadata": {"params": 1, "description": f"</script>{IMG}"},
        "handle": "kaggle://none/none/none/1",
    }
    monkeypatch.setattr(build_panel, "backbone_presets", presets)
    app = Explorer(text=f"the cat {IMG} sat </script>")
    app.build_panel.preset.value = build_panel.PATH_OR_HANDLE
    app.build_panel.handle.value = str(hostile_preset)
    return app


def test_preset_names_and_descriptions_are_text(hostile_app):
    panel = hostile_app.build_panel
    panel.preset.value = f"{IMG}_preset"
    _check_screen(hostile_app, f"</script>{IMG}")


def test_a_hostile_path_in_an_error_is_text(hostile_app, tmp_path):
    missing = tmp_path / f"{IMG}" / "</script>"
    hostile_app.build_panel.handle.value = str(missing)
    hostile_app.build_panel.button.click()
    assert str(missing) in hostile_app.build_panel.error.message
    _check_screen(hostile_app, IMG)


def test_hostile_tokens_texts_and_paths_through_every_panel(hostile_app, tmp_path):
    app = hostile_app
    app.build_panel.button.click()
    _check_screen(app, IMG)  # the built preset's path names the tag
    app.run_panel.text.value = "the cat sat on the mat and the dog sat"
    app.run_panel.button.click()
    trace = _shared_trace(app.trace)
    app.session.trace = trace  # as if loaded from a file someone sent
    app._show(trace)
    assert app.attention_panel.canvas.tokens[1 : 1 + len(HOSTILE)] == list(HOSTILE)
    canvas = app.attention_panel.canvas
    canvas.selected_token = 1 + HOSTILE.index(IMG)  # pinned: named beside the canvas
    _check_screen(app, IMG)
    app.attention_panel.mask_button.click()  # the effect table names the token
    _check_screen(app, IMG)
    # Compare: A and B are labelled with the model's name (its path).
    app.compare_panel.keep_button.click()
    app.run_panel.button.click()
    _check_screen(app, IMG)
    # Attribution with a hostile second text, of a hostile text.
    app.run_panel.text.value = f"the cat {IMG} sat </script>"
    app.run_panel.button.click()
    attribution = app.attribution_panel
    attribution.target.value = "similarity"
    attribution.method.value = "gradient_x_input"
    attribution.other_text.value = f"<b>x</b> {IMG}"
    attribution.button.click()
    assert app.session.attribution is not None, app.error.value
    _check_screen(app, "<b>x</b>")
    # Corpus from a missing hostile path (an error), then from a hostile file.
    corpus = app.corpus_panel
    corpus.source.value = corpus.source.options[1]
    corpus.path.value = str(tmp_path / f"{IMG}.txt")
    corpus.button.click()
    _check_screen(app, f"{IMG}.txt")
    texts = tmp_path / "<!--<script>.txt"
    texts.write_text("".join(f"the cat {h} sat </script>\n" for h in HOSTILE))
    corpus.path.value = str(texts)
    corpus.button.click()
    assert corpus.stats is not None, app.error.value
    app.open_corpus_example(0, 0)
    _check_screen(app, "</script>")
    # An export's file name in the export bar.
    app.tabs.selected_index = 3
    app.export(str(tmp_path / f"{IMG}.png"))
    _check_screen(app, IMG)
