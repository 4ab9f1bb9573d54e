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


def test_thumbnails_are_uint8_maps_each_scaled_to_its_percentile(trace):
    widget = AttentionWidget.from_trace(trace)
    assert widget.thumbnail_percentile == 95.0
    maps = np.frombuffer(widget.maps, dtype=np.uint8).reshape(widget.maps_shape)
    flat = trace.attentions[:, 0].reshape(LAYERS, HEADS, -1)
    top = np.percentile(flat, 95, axis=-1)[..., None, None]
    expected = np.minimum(trace.attentions[:, 0] / top, 1.0)
    np.testing.assert_allclose(maps / 255, expected, atol=1 / 255)
    # The top 5% of each map saturate: 2 of its 36 values here.
    assert ((maps == 255).reshape(LAYERS * HEADS, -1).sum(-1) >= 1).all()
    widget.thumbnail_percentile = 100  # each map to its own maximum
    maps = np.frombuffer(widget.maps, dtype=np.uint8).reshape(widget.maps_shape)
    vmax = trace.attentions[:, 0].max(axis=(-2, -1), keepdims=True)
    np.testing.assert_allclose(maps / 255, trace.attentions[:, 0] / vmax, atol=1 / 255)


def test_contrast_shows_the_structure_a_dominant_column_hides():
    # 64 tokens: every query puts 0.7 on [CLS] and 0.1 on each of 3 neighbours.
    n = 64
    attn = np.full((n, n), 1e-3, dtype=np.float32)
    attn[:, 0] = 0.7
    for shift in (-1, 0, 1):
        attn[np.arange(1, n - 1), np.arange(1, n - 1) + shift] = 0.1
    by_max = attention_widget.contrast_uint8(attn[None], 100)[0]
    by_p = attention_widget.contrast_uint8(attn[None], 95)[0]
    assert by_max[5, 6] == 36 and by_max[5, 20] == 0  # a faint band
    assert by_p[5, 6] == 255 and by_p[5, 20] == 3  # the band at full colour
    # A map of zeros but for one column (its percentile is 0): its maximum.
    sparse = np.zeros((1, 8, 8), dtype=np.float32)
    sparse[0, :, 0] = 0.5
    assert attention_widget.contrast_uint8(sparse, 95)[0, :, 0].tolist() == [255] * 8


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


def test_an_out_of_range_front_end_message_is_rolled_back_without_raising(
    trace, monkeypatch
):
    widget = AttentionWidget.from_trace(trace)
    sent = []
    monkeypatch.setattr(widget, "send_state", lambda key=None: sent.append(key))
    before = widget.head_map
    widget.set_state({"layer": 1, "head": 7})  # no traceback reaches the page
    assert (widget.layer, widget.head, widget.head_map) == (0, 0, before)
    # Python's values go back to the browser (a str key: one trait's own update).
    assert [key for key in sent if isinstance(key, list)] == [["layer", "head"]]
    assert widget.notice.startswith("Ignored head=7: not in this Trace")
    widget.set_state({"layer": 1})  # the next accepted change clears it
    assert (widget.layer, widget.notice) == (1, "")


@pytest.mark.parametrize(
    "message",
    [
        {"mode": "grid"},
        {"draw_style": "arcs"},
        {"aggregate": "max"},
        {"combine": "product"},
        {"selected_side": "middle"},
        {"visible_heads": []},
        {"visible_heads": [0, 0]},
        {"visible_heads": [5]},
        {"visible_heads": "0,1"},
        {"selected_tokens": [6]},
        {"selected_tokens": [1, 1]},
        {"selected_token": 9},
        {"hovered": -3},
        {"layer": "1"},
        {"layer": 1.5},
        {"tokens": ["a"]},  # Python's to set
        {"head_map": b"1234"},
        {"index": 1},
    ],
)
def test_every_bad_front_end_value_is_refused_and_rolled_back(
    trace, monkeypatch, message
):
    widget = AttentionWidget.from_trace(trace, layer=1, head=1)
    widget.set_state({"selected_tokens": [2], "selected_token": 2})
    names = [n for n in AttentionWidget.class_own_traits(sync=True) if n != "notice"]
    before = {name: getattr(widget, name) for name in names}
    sent = []
    monkeypatch.setattr(widget, "send_state", lambda key=None: sent.append(key))
    widget.set_state(message)
    assert {name: getattr(widget, name) for name in names} == before
    assert [key for key in sent if isinstance(key, list)] == [list(message)]
    assert widget.notice.startswith("Ignored ")


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


def shaped_trace(layers=4, heads=4, length=5, batch=1, seed=0, **select) -> Trace:
    """Random softmax attention of any shape, optionally `select`ed."""
    rng = np.random.default_rng(seed)
    logits = 2 * rng.normal(size=(layers, batch, heads, length, length))
    attentions = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    trace = Trace(
        hidden_states=np.zeros((layers + 1, batch, length, 4)),
        attentions=attentions,
        token_ids=rng.integers(0, 50, size=(batch, length)),
        padding_mask=np.ones((batch, length), dtype=np.int32),
        config={"num_heads": heads},
        backend="numpy",
        device="cpu",
        tokens=[[f"t{i}" for i in range(length)]] * batch,
    )
    return trace.select(**select) if select else trace


def with_norms(trace: Trace, seed: int = 1) -> Trace:
    """`trace` with norm-weighted maps: its weights times a random length per key."""
    import dataclasses

    rng = np.random.default_rng(seed)
    layers, batch, heads, length, _ = trace.attentions.shape
    lengths = rng.uniform(0.1, 5.0, size=(layers, batch, heads, 1, length))
    return dataclasses.replace(trace, attention_norms=trace.attentions * lengths)


def layer_bytes(widget) -> np.ndarray:
    """head_maps decoded as attention.js does: byte * scale / 255."""
    n = len(widget.tokens)
    heads = len(widget.head_maps_heads)
    raw = np.frombuffer(widget.head_maps, np.uint8).reshape(heads, n, n)
    scale = np.frombuffer(widget.head_maps_scale, "<f4")
    return raw * scale[:, None, None] / 255


def test_the_head_view_gets_every_head_of_its_layer_as_uint8_bytes():
    trace = shaped_trace()
    widget = AttentionWidget.from_trace(trace, layer=2, head=1)
    assert widget.visible_heads == [0, 1, 2, 3]  # all heads overlaid at first
    assert widget.head_maps_layer == 2 and isinstance(widget.head_maps, bytes)
    assert len(widget.head_maps) == 4 * 5 * 5  # uint8
    maps = trace.attentions[2, 0]
    np.testing.assert_allclose(layer_bytes(widget), maps, atol=maps.max() / 510 + 1e-7)
    assert widget.head_map_of == [2, 1]
    widget.set_state({"layer": 3})  # a layer picked in the bar
    assert widget.head_maps_layer == 3
    np.testing.assert_allclose(layer_bytes(widget), trace.attentions[3, 0], atol=2e-3)
    assert widget.head_map_of == [3, 1]


def test_from_trace_takes_choices_among_the_traces_heads_and_tokens():
    widget = AttentionWidget.from_trace(
        shaped_trace(), head=3, visible_heads=[1, 3], selected_token=2
    )
    assert (widget.visible_heads, widget.selected_tokens) == ([1, 3], [2])
    with pytest.raises(ValueError, match=r"visible_heads=\[7\]"):
        AttentionWidget.from_trace(shaped_trace(), visible_heads=[7])


def test_the_model_view_sends_no_layer_maps_until_a_head_view_opens():
    widget = AttentionWidget.from_trace(shaped_trace(), mode="model")
    assert (widget.head_maps, widget.head_maps_layer) == (b"", -1)
    # What attention.js sends for a click on thumbnail (layer 1, head 3).
    widget.set_state(
        {
            "layer": 1,
            "head": 3,
            "mode": "head",
            "visible_heads": [3],
            "aggregate": "head",
        }
    )
    assert (widget.layer, widget.head, widget.visible_heads) == (1, 3, [3])
    assert widget.head_maps_layer == 1 and len(widget.head_maps) == 4 * 25


def test_long_inputs_send_only_the_visible_heads_of_a_layer(monkeypatch):
    # As at T=512: 12 heads of 512 x 512 are 3 MB; one thumbnail's head is 256 kB.
    monkeypatch.setattr(attention_widget, "ALL_HEADS_BYTES", 2 * 25)
    trace = shaped_trace()  # 4 heads x 25 bytes: over the limit
    widget = AttentionWidget.from_trace(trace, mode="model")
    widget.set_state(
        {
            "layer": 1,
            "head": 3,
            "mode": "head",
            "visible_heads": [3],
            "aggregate": "head",
        }
    )
    assert widget.head_maps_heads == [3] and len(widget.head_maps) == 25
    np.testing.assert_allclose(
        layer_bytes(widget)[0], trace.attentions[1, 0, 3], atol=2e-3
    )
    widget.set_state({"visible_heads": [0, 3]})  # a swatch click: head 0 comes
    assert widget.head_maps_heads == [0, 3]
    np.testing.assert_allclose(
        layer_bytes(widget), trace.attentions[1, 0, [0, 3]], atol=2e-3
    )
    sent = widget.head_maps
    widget.set_state({"visible_heads": [0]})  # hiding one sends nothing new
    assert widget.head_maps is sent and widget.head_maps_heads == [0, 3]


def test_the_messages_carry_arrays_as_binary_buffers(monkeypatch):
    widget = AttentionWidget.from_trace(shaped_trace())
    messages = []
    monkeypatch.setattr(
        widget, "_send", lambda msg, buffers=None: messages.append((msg, buffers))
    )
    widget.set_state({"layer": 1, "aggregate": "mean_heads"})
    state = {k: v for msg, _ in messages for k, v in msg.get("state", {}).items()}
    paths = [p for msg, _ in messages for p in msg.get("buffer_paths", [])]
    for name in ("head_maps", "head_maps_scale", "head_map", "view_map"):
        assert [name] in paths and name not in state  # bytes, never JSON lists
    sizes = sorted(len(b) for _, buffers in messages for b in buffers or [])
    assert sizes == sorted([4 * 25, 4 * 4, 25 * 4, 25 * 4])


def test_head_picker_toggles_keep_the_focused_head_visible():
    widget = AttentionWidget.from_trace(shaped_trace(), layer=0, head=2)
    # Toggling the focused head out (JS moves the focus too; Python makes sure).
    widget.set_state({"visible_heads": [0, 1, 3]})
    assert (widget.head, widget.visible_heads) == (1, [0, 1, 3])  # nearest
    widget.set_state({"visible_heads": [3], "head": 3})  # a double-click on 3
    assert (widget.head, widget.visible_heads) == (3, [3])
    widget.head = 0  # focusing a hidden head shows it
    assert widget.visible_heads == [0, 3]
    widget.set_state({"visible_heads": [3, 1, 0]})  # sorted, as JS may not
    assert widget.visible_heads == [0, 1, 3]


def test_mean_over_heads_and_layers_are_exact_and_say_what_they_average():
    trace = shaped_trace(layers=3, heads=4, length=6)
    widget = AttentionWidget.from_trace(trace, layer=1, head=0)
    assert (widget.view_map, widget.view_map_of) == (b"", "")  # nothing to average
    widget.set_state({"aggregate": "mean_heads", "visible_heads": [0, 2, 3]})
    mean = np.frombuffer(widget.view_map, "<f4").reshape(6, 6)
    np.testing.assert_allclose(mean, trace.attentions[1, 0, [0, 2, 3]].mean(0), 1e-6)
    assert widget.view_map_of == "mean_heads:1:0,2,3"
    assert widget.view_label() == "mean over heads 0, 2\u20133 of layer 1"
    np.testing.assert_allclose(widget.view_array(), mean)
    widget.set_state({"aggregate": "mean_layers"})
    mean = np.frombuffer(widget.view_map, "<f4").reshape(6, 6)
    expected = trace.attentions[:, 0][:, [0, 2, 3]].mean((0, 1))
    np.testing.assert_allclose(mean, expected, rtol=1e-6)
    assert widget.view_map_of == "mean_layers:0,2,3"
    assert widget.view_label() == (
        "mean over layers 0\u20132 \u00d7 heads 0, 2\u20133 (9 maps)"
    )
    np.testing.assert_allclose(mean.sum(-1), 1.0, atol=1e-6)  # still distributions
    widget.set_state({"aggregate": "head"})
    assert widget.view_label() == "layer 1, head 0"
    assert np.array_equal(widget.view_array(), widget.head_array())


def test_pins_one_token_or_several_and_the_column_they_were_clicked_in():
    widget = AttentionWidget.from_trace(shaped_trace())
    # A click on token 2 in the right column: who looks at it.
    widget.set_state(
        {"selected_tokens": [2], "selected_token": 2, "selected_side": "key"}
    )
    assert (widget.selected_token, widget.selected_side) == (2, "key")
    # Shift-click on token 4, then mean instead of sum.
    widget.set_state({"selected_tokens": [2, 4], "selected_token": 4})
    widget.set_state({"combine": "mean"})
    assert (widget.selected_tokens, widget.selected_token) == ([2, 4], 4)
    assert widget.combine == "mean"
    # Python (the explorer's code) sets the pinned token alone: the set follows.
    widget.selected_token = 1
    assert widget.selected_tokens == [1]
    widget.selected_tokens = [3, 0]
    assert (widget.selected_tokens, widget.selected_token) == ([0, 3], 3)
    widget.selected_token = -1
    assert widget.selected_tokens == []


def test_a_trace_with_fewer_layers_and_heads_after_any_choice_never_raises():
    # The case: layer 4 / head 9 shown, then a Trace of a 4-head model.
    big = shaped_trace(layers=6, heads=12, length=8)
    widget = AttentionWidget.from_trace(big, layer=4, head=9, mode="head")
    widget.set_state({"visible_heads": [7, 9, 11], "aggregate": "mean_heads"})
    widget.set_state({"selected_tokens": [1, 6], "selected_token": 6})
    seen = []

    def observer(change):  # what the Attention panel's query/key view does
        trace = widget.trace
        trace.attention(widget.layer, widget.head, widget.index)
        assert set(widget.visible_heads) <= set(trace.attention_heads)
        seen.append(change.name)

    widget.observe(observer, names=["layer", "head", "visible_heads", "tokens"])
    small = shaped_trace(layers=2, heads=4, length=5)
    widget.set_trace(small)  # never raises
    assert (widget.layer, widget.head) == (0, 0)
    assert widget.visible_heads == [0, 1, 2, 3]  # none of 7, 9, 11 is left
    assert (widget.selected_tokens, widget.selected_token) == ([], -1)  # 8 -> 5
    assert widget.aggregate == "mean_heads"
    assert widget.view_map_of == "mean_heads:0:0,1,2,3"
    assert {"layer", "head", "visible_heads", "tokens"} <= set(seen)


def test_pins_stay_when_the_new_trace_has_as_many_tokens():
    widget = AttentionWidget.from_trace(shaped_trace(length=5), layer=1, head=2)
    widget.set_state({"selected_tokens": [1, 3], "selected_token": 3})
    widget.set_trace(shaped_trace(length=5, seed=1))  # e.g. token 3 masked
    assert (widget.selected_tokens, widget.selected_token) == ([1, 3], 3)
    assert (widget.layer, widget.head) == (1, 2)


def test_held_subsets_clamp_visible_heads_to_what_the_trace_holds():
    widget = AttentionWidget.from_trace(shaped_trace(), layer=3, head=1)
    widget.set_state({"visible_heads": [1, 2]})
    part = shaped_trace().select(layers=[0, 2], heads=[2, 3])
    widget.set_trace(part)
    assert (widget.layer, widget.head, widget.visible_heads) == (0, 2, [2])
    assert len(widget.head_maps) == 2 * 25 and widget.head_maps_layer == 0


def _check_invariants(widget) -> None:
    trace, n = widget.trace, len(widget.tokens)
    assert widget.layer in trace.attention_layers
    assert widget.head in trace.attention_heads
    assert widget.head in widget.visible_heads
    assert set(widget.visible_heads) <= set(trace.attention_heads)
    assert all(0 <= t < n for t in widget.selected_tokens)
    assert widget.selected_token in (*widget.selected_tokens, -1)
    assert (widget.selected_token == -1) == (widget.selected_tokens == [])
    assert -1 <= widget.hovered < n
    assert widget.has_norms == (trace.attention_norms is not None)
    assert widget.weighting == "weights" or widget.has_norms
    maps = trace.attentions if widget.weighting == "weights" else trace.attention_norms
    position = trace.attention_position(widget.layer, widget.head)
    shown = maps[position[0], widget.index, position[1]]
    assert np.array_equal(np.frombuffer(widget.head_map, "<f4"), shown.ravel())
    assert len(widget.head_map) == 4 * n * n and widget.head_map_of == [
        widget.layer,
        widget.head,
    ]
    if widget.mode == "head":
        assert widget.head_maps_layer == widget.layer
        assert len(widget.head_maps) == len(widget.head_maps_heads) * n * n
        assert set(widget.visible_heads) <= set(widget.head_maps_heads)
        if widget.aggregate != "head":
            assert widget.view_map_of == widget._view_key()
            assert len(widget.view_map) == 4 * n * n


try:  # hypothesis: the property-based test; skipped where not installed
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:
    st = None

if st is None:

    @pytest.mark.skip(reason="hypothesis is not installed (pip install hypothesis)")
    def test_random_actions_never_raise_and_every_shown_index_is_valid():
        pass

else:
    # Front-end messages and new Traces in random order: every shown index valid.
    _messages = st.one_of(
        st.builds(lambda v: {"layer": v}, st.integers(-1, 6)),
        st.builds(lambda v: {"head": v}, st.integers(-1, 12)),
        st.builds(lambda v: {"mode": v}, st.sampled_from(["head", "model"])),
        st.builds(lambda v: {"draw_style": v}, st.sampled_from(["lines", "heatmap"])),
        st.builds(
            lambda v: {"aggregate": v}, st.sampled_from(attention_widget.AGGREGATES)
        ),
        st.builds(
            lambda v: {"visible_heads": v}, st.lists(st.integers(0, 12), max_size=4)
        ),
        st.builds(
            lambda v, s: {
                "selected_tokens": v,
                "selected_token": v[-1] if v else -1,
                "selected_side": s,
            },
            st.lists(st.integers(0, 9), max_size=3, unique=True),
            st.sampled_from(["query", "key"]),
        ),
        st.builds(lambda v: {"combine": v}, st.sampled_from(["sum", "mean"])),
        st.builds(lambda v: {"hovered": v}, st.integers(-2, 9)),
        st.builds(lambda v: {"weighting": v}, st.sampled_from(["weights", "norms"])),
    )
    _traces = st.builds(
        lambda layers, heads, length, part, norms: (layers, heads, length, part, norms),
        st.integers(1, 6),
        st.integers(1, 12),
        st.integers(1, 9),
        st.booleans(),
        st.booleans(),
    )

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.one_of(_messages, _traces), min_size=1, max_size=12))
    def test_random_actions_never_raise_and_every_shown_index_is_valid(actions):
        widget = AttentionWidget.from_trace(shaped_trace(layers=6, heads=12, length=9))
        widget.send_state = lambda key=None: None
        for action in actions:
            if isinstance(action, dict):
                widget.set_state(action)  # refused or applied, never raised
            else:
                layers, heads, length, part, norms = action
                trace = shaped_trace(layers=layers, heads=heads, length=length)
                if norms:
                    trace = with_norms(trace)
                if part and layers > 1 and heads > 1:
                    trace = trace.select(layers=[layers - 1], heads=[0, heads - 1])
                widget.set_trace(trace)
            _check_invariants(widget)


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
    # Small enough to review in a sitting: the head view, heatmap and model view.
    assert len(source.splitlines()) < 700


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
