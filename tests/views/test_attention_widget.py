"""AttentionWidget without a browser: the altair way.

The front end is faked by setting the synced traits as its messages would
(`set_state`), then the Python side is checked.
"""

import importlib
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("anywidget")

import traitlets  # noqa: E402

from distil_explorer.trace import Trace  # noqa: E402
from distil_explorer.views import attention_widget  # noqa: E402
from distil_explorer.views.attention_widget import AttentionWidget  # noqa: E402

LAYERS, BATCH, HEADS, LENGTH = 3, 2, 2, 6


def make_trace(length=LENGTH, padded=2, tokens=True, seed=0) -> Trace:
    """Random softmax attention; row 1 has its last `padded` positions padded."""
    rng = np.random.default_rng(seed)
    mask = np.ones((BATCH, length), dtype=np.int32)
    mask[1, length - padded :] = 0
    logits = rng.normal(size=(LAYERS, BATCH, HEADS, length, length))
    weights = np.exp(logits) * mask[None, :, None, None, :]
    attentions = weights / weights.sum(-1, keepdims=True)
    words = [[f"w{b}_{i}" for i in range(length)] for b in range(BATCH)]
    return Trace(
        hidden_states=np.zeros((LAYERS + 1, BATCH, length, 4)),
        attentions=attentions,
        token_ids=rng.integers(0, 50, size=(BATCH, length)),
        padding_mask=mask,
        config={},
        backend="numpy",
        device="cpu",
        tokens=words if tokens else None,
    )


def head_map(widget) -> np.ndarray:
    n = len(widget.tokens)
    return np.frombuffer(widget.head_map, dtype="<f4").reshape(n, n)


def expected_head(trace, layer, index, head) -> np.ndarray:
    real = trace.padding_mask[index].astype(bool)
    return trace.attentions[layer, index, head][real][:, real]


@pytest.fixture
def trace():
    return make_trace()


def test_from_trace_syncs_tokens_counts_and_thumbnails(trace):
    widget = AttentionWidget.from_trace(trace, index=0, layer=1, head=1)
    assert widget.tokens == list(trace.tokens[0])
    assert (widget.num_layers, widget.num_heads) == (LAYERS, HEADS)
    assert (widget.layer, widget.head, widget.index) == (1, 1, 0)
    assert widget.maps_shape == [LAYERS, HEADS, LENGTH, LENGTH]
    assert isinstance(widget.maps, bytes)
    assert len(widget.maps) == LAYERS * HEADS * LENGTH * LENGTH  # uint8


def test_head_map_is_the_exact_float32_attention(trace):
    widget = AttentionWidget.from_trace(trace, layer=2, head=0)
    assert len(widget.head_map) == LENGTH * LENGTH * 4
    assert np.array_equal(head_map(widget), trace.attentions[2, 0, 0])


def test_padding_tokens_are_dropped(trace):
    widget = AttentionWidget.from_trace(trace, index=1, layer=0, head=1)
    assert widget.tokens == list(trace.tokens[1][: LENGTH - 2])
    assert widget.maps_shape == [LAYERS, HEADS, LENGTH - 2, LENGTH - 2]
    assert np.array_equal(head_map(widget), expected_head(trace, 0, 1, 1))
    np.testing.assert_allclose(head_map(widget).sum(-1), 1.0, atol=1e-6)


@pytest.mark.parametrize("mask", [[0, 0, 1, 1, 1, 1], [1, 0, 1, 1, 0, 1]])
def test_left_padding_and_gaps_are_dropped_too(mask):
    # One run of real tokens is cut out as a view, anything else by index.
    full = make_trace()
    padding_mask = np.array([mask, [1] * LENGTH], dtype=np.int32)
    attentions = full.attentions * padding_mask[None, :, None, None, :]
    attentions /= attentions.sum(-1, keepdims=True)
    trace = Trace(
        hidden_states=full.hidden_states,
        attentions=attentions,
        token_ids=full.token_ids,
        padding_mask=padding_mask,
        config={},
        backend="numpy",
        device="cpu",
    )
    widget = AttentionWidget.from_trace(trace, layer=1, head=1, thumbnail_size=2)
    real = np.flatnonzero(mask)
    assert widget.tokens == [str(i) for i in trace.token_ids[0, real]]
    assert np.array_equal(head_map(widget), expected_head(trace, 1, 0, 1))
    thumbs = np.frombuffer(widget.maps, np.uint8).reshape(widget.maps_shape)
    assert thumbs.shape == (LAYERS, HEADS, 2, 2)
    assert thumbs.reshape(LAYERS, HEADS, -1).max(-1).min() == 255


def test_padding_is_dropped_from_a_captured_trace(tiny_trace):
    widget = AttentionWidget.from_trace(tiny_trace, index=1, layer=1, head=1)
    assert len(widget.tokens) == 4  # the tiny inputs pad row 1 to 4 tokens
    assert np.array_equal(head_map(widget), expected_head(tiny_trace, 1, 1, 1))


def test_thumbnails_are_uint8_maps_each_scaled_to_its_max(trace):
    widget = AttentionWidget.from_trace(trace)
    maps = np.frombuffer(widget.maps, dtype=np.uint8).reshape(widget.maps_shape)
    assert (maps.reshape(LAYERS * HEADS, -1).max(-1) == 255).all()
    vmax = trace.attentions[:, 0].max(axis=(-2, -1), keepdims=True)
    np.testing.assert_allclose(maps / 255, trace.attentions[:, 0] / vmax, atol=1 / 255)


def test_long_sequences_get_thumbnails_of_at_most_thumbnail_size():
    widget = AttentionWidget.from_trace(make_trace(length=100, padded=10))
    assert widget.maps_shape == [LAYERS, HEADS, 64, 64]
    widget.thumbnail_size = 16
    assert widget.maps_shape == [LAYERS, HEADS, 16, 16]
    assert len(widget.maps) == LAYERS * HEADS * 16 * 16


def test_setting_layer_and_head_in_python_recomputes_head_map(trace):
    widget = AttentionWidget.from_trace(trace)
    before = widget.head_map
    widget.layer = 2
    assert widget.head_map != before
    assert np.array_equal(head_map(widget), trace.attentions[2, 0, 0])
    widget.head = 1
    assert np.array_equal(head_map(widget), trace.attentions[2, 0, 1])


def test_setting_index_reloads_tokens_maps_and_head_map(trace):
    widget = AttentionWidget.from_trace(trace, layer=1, head=1)
    widget.selected_token = 5
    widget.index = 1
    assert widget.tokens == list(trace.tokens[1][:4])
    assert widget.maps_shape[2:] == [4, 4]
    assert np.array_equal(head_map(widget), expected_head(trace, 1, 1, 1))
    assert widget.selected_token == -1  # token 5 no longer exists


def test_a_thumbnail_click_from_the_front_end_opens_that_head(trace):
    widget = AttentionWidget.from_trace(trace, mode="model")
    seen = []
    widget.observe(lambda change: seen.append(change.new), "mode")
    # What attention.js sends when thumbnail (layer 2, head 1) is clicked.
    widget.set_state({"layer": 2, "head": 1, "mode": "head"})
    assert (widget.layer, widget.head, widget.mode) == (2, 1, "head")
    assert seen == ["head"]
    assert np.array_equal(head_map(widget), trace.attentions[2, 0, 1])


def test_hover_click_and_render_time_from_the_front_end(trace):
    widget = AttentionWidget.from_trace(trace)
    widget.set_state({"hovered": 3, "selected_token": 4, "render_ms": 1.5})
    assert (widget.hovered, widget.selected_token, widget.render_ms) == (3, 4, 1.5)
    widget.set_state({"draw_style": "heatmap", "hovered": -1})
    assert (widget.draw_style, widget.hovered) == ("heatmap", -1)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("layer", 3, r"layer=3: not in this Trace; allowed: one of \[0, 1, 2\]"),
        ("layer", -1, r"layer=-1: not in this Trace; allowed: one of \[0, 1, 2\]"),
        ("head", 2, r"head=2: not in this Trace; allowed: one of \[0, 1\]"),
        ("index", 2, r"index=2: out of range; allowed: 0\.\.1"),
        ("selected_token", 6, r"selected_token=6: .*allowed: -1 \(none\) or 0\.\.5"),
        ("hovered", -2, r"hovered=-2"),
        ("thumbnail_size", 0, r"thumbnail_size=0"),
    ],
)
def test_out_of_range_values_raise_naming_the_argument(trace, name, value, message):
    widget = AttentionWidget.from_trace(trace)
    before = widget.head_map
    with pytest.raises(ValueError, match=message):
        setattr(widget, name, value)
    assert getattr(widget, name) != value and widget.head_map == before


def test_an_out_of_range_front_end_message_changes_nothing(trace):
    widget = AttentionWidget.from_trace(trace)
    with pytest.raises(ValueError, match="head=7"):
        widget.set_state({"layer": 1, "head": 7})
    assert (widget.layer, widget.head) == (0, 0)


def test_enums_refuse_unknown_modes(trace):
    widget = AttentionWidget.from_trace(trace)
    with pytest.raises(traitlets.TraitError):
        widget.mode = "grid"
    with pytest.raises(traitlets.TraitError):
        widget.draw_style = "arcs"


def test_from_trace_and_set_trace_check_their_arguments(trace):
    with pytest.raises(ValueError, match=r"layer=3: .*allowed: one of \[0, 1, 2\]"):
        AttentionWidget.from_trace(trace, layer=3)
    with pytest.raises(ValueError, match=r"head=5: .*allowed: one of \[0, 1\]"):
        AttentionWidget.from_trace(trace, head=5)
    widget = AttentionWidget.from_trace(trace)
    with pytest.raises(ValueError, match=r"index=9: .*allowed: 0\.\.1"):
        widget.set_trace(trace, index=9)


def test_set_trace_keeps_the_head_where_it_exists_and_resets_the_hover():
    widget = AttentionWidget.from_trace(make_trace(), layer=2, head=1)
    widget.hovered = 2
    smaller = make_trace(length=4, padded=1, seed=1)
    widget.set_trace(smaller, index=1)
    assert (widget.layer, widget.head, widget.hovered) == (2, 1, -1)
    assert widget.trace is smaller
    assert np.array_equal(head_map(widget), expected_head(smaller, 2, 1, 1))


def test_a_selection_is_labelled_and_clicked_by_model_indices(trace):
    part = trace.select(layers=[0, 2], heads=[1])
    widget = AttentionWidget.from_trace(part, mode="model")
    # The grid has a row per kept layer and a column per kept head; JS labels
    # them with `layers` and `heads` and sends model indices on a click.
    assert (widget.layers, widget.heads) == ([0, 2], [1])
    assert (widget.num_layers, widget.num_heads) == (LAYERS, HEADS)
    assert widget.maps_shape == [2, 1, LENGTH, LENGTH]
    assert (widget.layer, widget.head) == (0, 1)  # the first held
    widget.set_state({"layer": 2, "head": 1, "mode": "head"})
    assert np.array_equal(head_map(widget), trace.attentions[2, 0, 1])
    with pytest.raises(ValueError, match=r"layer=1: not in this Trace; .*\[0, 2\]"):
        widget.layer = 1
    with pytest.raises(ValueError, match=r"head=0: not in this Trace"):
        AttentionWidget.from_trace(part, head=0)


def test_set_trace_moves_to_a_held_layer_when_the_shown_one_is_gone(trace):
    widget = AttentionWidget.from_trace(trace, layer=1, head=0)
    widget.set_trace(trace.select(layers=[0, 2], heads=[1]))
    assert (widget.layer, widget.head) == (0, 1)
    widget.set_trace(trace)  # back to a full trace: the view stays put
    assert (widget.layer, widget.head, widget.layers) == (0, 1, [0, 1, 2])


def test_tokens_default_to_token_ids_when_the_trace_has_no_text():
    trace = make_trace(tokens=False)
    widget = AttentionWidget.from_trace(trace, index=1)
    assert widget.tokens == [str(i) for i in trace.token_ids[1, : LENGTH - 2]]


def test_an_empty_widget_has_nothing_to_draw():
    widget = AttentionWidget()
    assert (widget.head_map, widget.maps, widget.tokens) == (b"", b"", [])
    assert widget.head_array().shape == (0, 0)
    with pytest.raises(ValueError, match="layer=1"):
        widget.layer = 1


def test_every_synced_trait_says_its_type_and_default():
    own = AttentionWidget.class_own_traits(sync=True)
    assert {"tokens", "maps", "head_map", "layer", "head", "mode"} <= set(own)
    for name, trait in own.items():
        assert "default" in trait.help, name


def test_the_esm_is_a_shipped_es_module():
    path = pathlib.Path(attention_widget.__file__).parent / "static" / "attention.js"
    source = str(AttentionWidget._esm)
    assert path.is_file() and source == path.read_text()  # the file, not a copy
    assert "export default" in source or "export function render" in source
    assert "http" not in source  # nothing from a CDN
    assert "require(" not in source
    assert "document.body" not in source and "document.querySelector" not in source
    # Small enough to review in one sitting (long-input paths grew it to ~320).
    assert len(source.splitlines()) < 340


def test_the_esm_is_valid_javascript():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH")
    path = pathlib.Path(attention_widget.__file__).parent / "static" / "attention.js"
    # .js next to no package.json is a CommonJS script to node; --input-type
    # makes it parse the source as the ES module the browser gets.
    result = subprocess.run(
        [node, "--check", "--input-type=module"],
        input=path.read_text(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_css_is_scoped_to_the_widget():
    css = str(AttentionWidget._css)
    rules = [line for line in css.splitlines() if line.endswith("{")]
    assert rules and all(rule.startswith(".distil-attention") for rule in rules)


@pytest.fixture
def without_anywidget(monkeypatch):
    monkeypatch.setitem(sys.modules, "anywidget", None)  # import raises ImportError
    try:
        yield importlib.reload(attention_widget)
    finally:
        monkeypatch.undo()
        importlib.reload(attention_widget)


def test_without_anywidget_the_name_exists_and_says_what_to_install(without_anywidget):
    widget_class = without_anywidget.AttentionWidget
    with pytest.raises(ImportError, match="pip install anywidget"):
        widget_class()
    with pytest.raises(ImportError, match="pip install anywidget"):
        widget_class.from_trace(make_trace())


def test_the_module_is_whole_again_after_the_import_guard_test():
    assert issubclass(attention_widget.AttentionWidget, traitlets.HasTraits)
