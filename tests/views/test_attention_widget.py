"""AttentionWidget without a browser: the altair way.

The front end is faked by setting the synced traits as its messages would
(`set_state`), then the Python side is checked: the choices (a ViewState),
and the payload sent once per Trace, from which scene.js derives every view
(tests/views/test_scene.py checks what it derives).
"""

import importlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
import traitlets

from distil_explorer.trace import Trace
from distil_explorer.views import attention_traits, attention_widget
from distil_explorer.views import payload as payload_module
from distil_explorer.views.attention_widget import AttentionWidget
from distil_explorer.views.payload import PAYLOAD_TRAITS, decoded
from distil_explorer.views.view_state import AGGREGATES
from tests.factories import random_trace

LAYERS, BATCH, HEADS, LENGTH = 3, 2, 2, 6


def make_trace(length=LENGTH, padded=2, tokens=True, seed=0) -> Trace:
    """Random softmax attention; row 1 has its last `padded` positions padded."""
    return random_trace(
        layers=LAYERS,
        batch=BATCH,
        heads=HEADS,
        length=length,
        padded=padded,
        tokens=tokens,
        seed=seed,
    )


def payload_of(widget) -> dict:
    return {name: getattr(widget, name) for name in PAYLOAD_TRAITS}


def head_map(widget) -> np.ndarray:
    """The focused head's map as the canvas decodes it from the payload."""
    data = decoded(payload_of(widget))
    return data.maps[
        data.maps_layers.index(widget.layer), data.heads.index(widget.head)
    ]


def expected_head(trace, layer, index, head) -> np.ndarray:
    real = trace.padding_mask[index].astype(bool)
    return trace.attentions[layer, index, head][real][:, real]


@pytest.fixture
def trace():
    return make_trace()


def test_from_trace_sends_the_tokens_and_every_map_once(trace):
    widget = AttentionWidget.from_trace(trace, index=0, layer=1, head=1)
    assert widget.tokens == list(trace.tokens[0])
    assert (widget.num_layers, widget.num_heads) == (LAYERS, HEADS)
    assert (widget.layer, widget.head, widget.index) == (1, 1, 0)
    assert widget.payload_info["maps_layers"] == [0, 1, 2]
    assert len(widget.maps) == LAYERS * HEADS * LENGTH * LENGTH  # uint8
    assert len(widget.maps_scale) == LAYERS * HEADS * 4  # float32, one per map
    data = decoded(payload_of(widget))
    top = trace.attentions[:, 0].max()
    np.testing.assert_allclose(data.maps, trace.attentions[:, 0], atol=top / 510)


def test_padding_tokens_are_dropped(trace):
    widget = AttentionWidget.from_trace(trace, index=1, layer=0, head=1)
    assert widget.tokens == list(trace.tokens[1][: LENGTH - 2])
    assert widget.payload_info["n"] == LENGTH - 2
    np.testing.assert_allclose(
        head_map(widget), expected_head(trace, 0, 1, 1), atol=2e-3
    )


@pytest.mark.parametrize("mask", [[0, 0, 1, 1, 1, 1], [1, 0, 1, 1, 0, 1]])
def test_left_padding_and_gaps_are_dropped_too(mask):
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
    widget = AttentionWidget.from_trace(trace, layer=1, head=1)
    real = np.flatnonzero(mask)
    assert widget.tokens == [str(i) for i in trace.token_ids[0, real]]
    np.testing.assert_allclose(
        head_map(widget), expected_head(trace, 1, 0, 1), atol=2e-3
    )


def test_padding_is_dropped_from_a_captured_trace(tiny_trace):
    widget = AttentionWidget.from_trace(tiny_trace, index=1, layer=1, head=1)
    assert len(widget.tokens) == 4  # the tiny inputs pad row 1 to 4 tokens
    expected = expected_head(tiny_trace, 1, 1, 1)
    np.testing.assert_allclose(head_map(widget), expected, atol=expected.max() / 500)


def test_head_switch_toggle_and_pin_send_no_bytes(trace, monkeypatch):
    widget = AttentionWidget.from_trace(trace, layer=1, head=0)
    messages = []
    monkeypatch.setattr(
        widget, "_send", lambda msg, buffers=None: messages.append(buffers)
    )
    widget.set_state({"head": 1})
    widget.set_state({"visible_heads": [1]})
    widget.set_state({"selected_tokens": [2], "selected_token": 2})
    widget.set_state({"aggregate": "mean_layers", "draw_style": "heatmap"})
    assert not any(messages), "a choice the canvas derives sent bytes"
    widget.set_state({"weighting": "weights", "layer": 2})  # every layer held: none
    assert not any(messages)


def test_long_inputs_send_the_shown_layer_and_each_heads_mean_over_layers(monkeypatch):
    monkeypatch.setattr(payload_module, "ALL_LAYERS_UP_TO", 4)
    trace = shaped_trace(layers=3, heads=2, length=6)
    widget = AttentionWidget.from_trace(trace, layer=1, head=0)
    assert widget.payload_info["maps_layers"] == [1]
    assert len(widget.maps) == 2 * 36 and len(widget.layer_mean) == 2 * 36
    data = decoded(payload_of(widget))
    mean = trace.attentions[:, 0].mean(0)
    np.testing.assert_allclose(data.layer_mean, mean, atol=mean.max() / 500)
    widget.set_state({"layer": 2})  # a layer switch fetches that layer
    assert widget.payload_info["maps_layers"] == [2]
    np.testing.assert_allclose(
        decoded(payload_of(widget)).maps[0], trace.attentions[2, 0], atol=2e-3
    )


def test_a_thumbnail_click_from_the_front_end_opens_that_head_alone(trace):
    widget = AttentionWidget.from_trace(trace, mode="model")
    seen = []
    widget.observe(lambda change: seen.append(change.new), "mode")
    # What canvas.js sends when thumbnail (layer 2, head 1) is clicked.
    widget.set_state(
        {
            "layer": 2,
            "head": 1,
            "mode": "head",
            "visible_heads": [1],
            "aggregate": "head",
        }
    )
    assert (widget.layer, widget.head, widget.mode) == (2, 1, "head")
    assert widget.visible_heads == [1] and widget.view_state.visible() == (1,)
    assert seen == ["head"]


def test_hover_click_and_render_time_from_the_front_end(trace):
    widget = AttentionWidget.from_trace(trace)
    widget.set_state({"hovered": 3, "selected_token": 4, "render_ms": 1.5})
    assert (widget.hovered, widget.selected_token, widget.render_ms) == (3, 4, 1.5)
    assert widget.selected_tokens == [4]
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
        (
            "thumbnail_percentile",
            20,
            r"thumbnail_percentile=20(\.0)?: allowed: 50\.\.100",
        ),
    ],
)
def test_out_of_range_values_raise_naming_the_argument(trace, name, value, message):
    widget = AttentionWidget.from_trace(trace)
    before = (widget.view_state, widget.maps)
    with pytest.raises(ValueError, match=message):
        setattr(widget, name, value)
    assert getattr(widget, name) != value
    assert (widget.view_state, widget.maps) == before


def test_an_out_of_range_front_end_message_is_rolled_back_without_raising(
    trace, monkeypatch
):
    widget = AttentionWidget.from_trace(trace)
    sent = []
    monkeypatch.setattr(widget, "send_state", lambda key=None: sent.append(key))
    before = widget.view_state
    widget.set_state({"layer": 1, "head": 7})  # no traceback reaches the page
    assert (widget.layer, widget.head, widget.view_state) == (0, 0, before)
    # Python's values go back to the browser.
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
        {"maps": b"1234"},
        {"index": 1},
        {"weighting": "norms"},  # this Trace has none
    ],
)
def test_every_bad_front_end_value_is_refused_and_rolled_back(
    trace, monkeypatch, message
):
    widget = AttentionWidget.from_trace(trace, layer=1, head=1)
    widget.set_state({"selected_tokens": [2], "selected_token": 2})
    names = [n for n in AttentionWidget.class_traits(sync=True) if n != "notice"]
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


def test_setting_index_reloads_tokens_and_maps_and_drops_the_pins(trace):
    widget = AttentionWidget.from_trace(trace, layer=1, head=1)
    widget.selected_token = 5
    widget.index = 1
    assert widget.tokens == list(trace.tokens[1][:4])
    assert widget.payload_info["n"] == 4
    np.testing.assert_allclose(
        head_map(widget), expected_head(trace, 1, 1, 1), atol=2e-3
    )
    assert widget.selected_token == -1  # other tokens: token 5 means nothing now


def test_set_trace_keeps_the_head_where_it_exists_and_resets_the_hover():
    widget = AttentionWidget.from_trace(make_trace(), layer=2, head=1)
    widget.hovered = 2
    smaller = make_trace(length=4, padded=1, seed=1)
    widget.set_trace(smaller, index=1)
    assert (widget.layer, widget.head, widget.hovered) == (2, 1, -1)
    assert widget.trace is smaller


def test_a_selection_is_labelled_and_clicked_by_model_indices(trace):
    part = trace.select(layers=[0, 2], heads=[1])
    widget = AttentionWidget.from_trace(part, mode="model")
    assert (widget.layers, widget.heads) == ([0, 2], [1])
    assert (widget.num_layers, widget.num_heads) == (LAYERS, HEADS)
    assert (widget.layer, widget.head) == (0, 1)  # the first held
    widget.set_state({"layer": 2, "head": 1, "mode": "head"})
    np.testing.assert_allclose(head_map(widget), trace.attentions[2, 0, 1], atol=2e-3)
    with pytest.raises(ValueError, match=r"layer=1: not in this Trace; .*\[0, 2\]"):
        widget.layer = 1
    with pytest.raises(ValueError, match=r"head=0: not in this Trace"):
        AttentionWidget.from_trace(part, head=0)


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


def test_from_trace_takes_choices_among_the_traces_heads_and_tokens():
    widget = AttentionWidget.from_trace(
        shaped_trace(), head=3, visible_heads=[1, 3], selected_token=2
    )
    assert (widget.visible_heads, widget.selected_tokens) == ([1, 3], [2])
    with pytest.raises(ValueError, match=r"visible_heads=\[7\]"):
        AttentionWidget.from_trace(shaped_trace(), visible_heads=[7])


def test_head_picker_toggles_keep_the_focused_head_visible():
    widget = AttentionWidget.from_trace(shaped_trace(), layer=0, head=2)
    widget.set_state({"visible_heads": [0, 1, 3]})
    assert (widget.head, widget.visible_heads) == (1, [0, 1, 3])  # nearest
    widget.set_state({"visible_heads": [3], "head": 3})  # a double-click on 3
    assert (widget.head, widget.visible_heads) == (3, [3])
    widget.head = 0  # focusing a hidden head shows it
    assert widget.visible_heads == [0, 3]
    widget.set_state({"visible_heads": [3, 1, 0]})  # sorted, as JS may not
    assert widget.visible_heads == [0, 1, 3]
    widget.set_state({"visible_heads": [0, 1, 2, 3]})  # every head: the default
    assert widget.view_state.visible_heads == () and widget.visible_heads == [
        0,
        1,
        2,
        3,
    ]


def test_view_labels_say_what_is_averaged():
    widget = AttentionWidget.from_trace(shaped_trace(layers=3), layer=1, head=0)
    widget.set_state({"aggregate": "mean_heads", "visible_heads": [0, 2, 3]})
    assert widget.view_label() == "mean over heads 0, 2\u20133 of layer 1"
    widget.set_state({"aggregate": "mean_layers"})
    assert widget.view_label() == (
        "mean over layers 0\u20132 \u00d7 heads 0, 2\u20133 (9 maps)"
    )
    widget.set_state({"aggregate": "head"})
    assert widget.view_label() == "layer 1, head 0"


def test_pins_one_token_or_several_and_the_column_they_were_clicked_in():
    widget = AttentionWidget.from_trace(shaped_trace())
    widget.set_state(
        {"selected_tokens": [2], "selected_token": 2, "selected_side": "key"}
    )
    assert (widget.selected_token, widget.selected_side) == (2, "key")
    widget.set_state({"selected_tokens": [2, 4], "selected_token": 4})
    widget.set_state({"combine": "mean"})
    assert (widget.selected_tokens, widget.selected_token) == ([2, 4], 4)
    assert widget.combine == "mean"
    widget.selected_token = 1  # Python sets the pinned token alone: the set follows
    assert widget.selected_tokens == [1]
    widget.selected_tokens = [3, 0]
    assert (widget.selected_tokens, widget.selected_token) == ([0, 3], 3)
    widget.selected_token = -1
    assert widget.selected_tokens == []


def test_a_trace_with_fewer_layers_and_heads_after_any_choice_never_raises():
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
    widget.set_trace(shaped_trace(layers=2, heads=4, length=5))  # never raises
    assert (widget.layer, widget.head) == (0, 0)
    assert widget.visible_heads == [0, 1, 2, 3]  # a new head count: every head
    assert (widget.selected_tokens, widget.selected_token) == ([], -1)
    assert widget.aggregate == "mean_heads"
    assert {"layer", "head", "visible_heads", "tokens"} <= set(seen)


def test_back_to_the_same_heads_keeps_the_chosen_ones_a_new_count_shows_all():
    widget = AttentionWidget.from_trace(shaped_trace(heads=12), head=3)
    widget.set_state({"visible_heads": [0, 3]})
    widget.set_trace(shaped_trace(heads=12, seed=5))  # another run, same model
    assert widget.visible_heads == [0, 3]
    widget.set_trace(shaped_trace(heads=4))
    widget.set_state({"visible_heads": [0, 1]})
    widget.set_trace(shaped_trace(heads=12))  # the case: 4 -> 12 heads
    assert widget.visible_heads == list(range(12))


def test_pins_stay_while_the_sequence_has_as_many_tokens():
    widget = AttentionWidget.from_trace(shaped_trace(length=5), layer=1, head=2)
    widget.set_state({"selected_tokens": [1, 3], "selected_token": 3})
    widget.set_trace(shaped_trace(length=5, seed=1))  # same tokens, new maps
    assert (widget.selected_tokens, widget.selected_token) == ([1, 3], 3)
    assert (widget.layer, widget.head) == (1, 2)


def test_held_subsets_clamp_visible_heads_to_what_the_trace_holds():
    widget = AttentionWidget.from_trace(shaped_trace(), layer=3, head=1)
    widget.set_state({"visible_heads": [1, 2]})
    part = shaped_trace().select(layers=[0, 2], heads=[2, 3])
    widget.set_trace(part)
    assert (widget.layer, widget.head, widget.visible_heads) == (0, 2, [2, 3])


def test_clear_draws_nothing_and_forgets_the_traces_choices():
    widget = AttentionWidget.from_trace(
        shaped_trace(), layer=2, head=1, selected_token=1
    )
    widget.clear()
    assert widget.trace is None and widget.tokens == [] and widget.maps == b""
    assert (widget.layer, widget.head, widget.selected_token) == (0, 0, -1)


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
    # What the canvas draws belongs to this Trace: its tokens, heads and maps.
    info = widget.payload_info
    assert (info["n"], info["weighting"], info["index"]) == (
        n,
        widget.weighting,
        widget.index,
    )
    assert widget.layer in info["maps_layers"]
    assert widget.heads == list(trace.attention_heads)
    maps = trace.attentions if widget.weighting == "weights" else trace.attention_norms
    position = trace.attention_position(widget.layer, widget.head)
    shown = maps[position[0], widget.index, position[1]]
    np.testing.assert_allclose(head_map(widget), shown, atol=shown.max() / 500)


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
    _messages = st.one_of(
        st.builds(lambda v: {"layer": v}, st.integers(-1, 6)),
        st.builds(lambda v: {"head": v}, st.integers(-1, 12)),
        st.builds(lambda v: {"mode": v}, st.sampled_from(["head", "model"])),
        st.builds(lambda v: {"draw_style": v}, st.sampled_from(["lines", "heatmap"])),
        st.builds(lambda v: {"aggregate": v}, st.sampled_from(AGGREGATES)),
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
    assert (widget.maps, widget.tokens) == (b"", [])
    assert widget.head_array().shape == (0, 0)
    with pytest.raises(ValueError, match="layer=1"):
        widget.layer = 1


def test_every_synced_trait_says_its_type_and_default():
    own = attention_traits.CanvasTraits.class_own_traits(sync=True)
    assert {"tokens", "maps", "payload_info", "layer", "head", "mode"} <= set(own)
    for name, trait in own.items():
        assert "default" in trait.help, name


def test_the_traits_and_the_contract_name_the_same_things():
    from distil_explorer.views.contract import CONTRACT

    synced = set(AttentionWidget.class_traits(sync=True))
    assert set(CONTRACT["front_end_traits"]) <= synced
    assert set(CONTRACT["state_traits"]) <= synced
    assert set(PAYLOAD_TRAITS) <= synced


def test_the_esm_is_the_shipped_module_files():
    from distil_explorer.views.contract import STATIC

    source = str(AttentionWidget._esm)
    for name in ("scene.js", "canvas.js"):
        assert (STATIC / name).read_text() in source  # the files, not a copy
    assert "export default" in source
    assert "http" not in source  # nothing from a CDN
    assert "require(" not in source
    assert "document.body" not in source and "document.querySelector" not in source


def test_the_esm_is_valid_javascript():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH")
    result = subprocess.run(
        [node, "--check", "--input-type=module"],
        input=str(AttentionWidget._esm),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_no_js_function_is_over_120_lines():
    from distil_explorer.views.contract import STATIC

    for name in ("scene.js", "canvas.js"):
        lines = (STATIC / name).read_text().splitlines()
        starts = [
            i
            for i, line in enumerate(lines)
            if line.startswith(("function", "export function"))
        ]
        for start in starts:
            end = next(i for i in range(start, len(lines)) if lines[i] == "}")
            assert end - start < 120, f"{name}: {lines[start]} is {end - start} lines"


def test_the_css_is_scoped_to_the_widget():
    css = str(AttentionWidget._css)
    rules = [line for line in css.splitlines() if line.endswith("{")]
    assert rules and all(rule.startswith(".distil-attention") for rule in rules)


@pytest.fixture
def without_anywidget(monkeypatch):
    monkeypatch.setitem(sys.modules, "anywidget", None)  # import raises ImportError
    try:
        importlib.reload(attention_traits)
        yield importlib.reload(attention_widget)
    finally:
        monkeypatch.undo()
        importlib.reload(attention_traits)
        importlib.reload(attention_widget)


def test_without_anywidget_the_name_exists_and_says_what_to_install(without_anywidget):
    widget_class = without_anywidget.AttentionWidget
    with pytest.raises(ImportError, match="pip install anywidget"):
        widget_class()
    with pytest.raises(ImportError, match="pip install anywidget"):
        widget_class.from_trace(make_trace())


def test_the_module_is_whole_again_after_the_import_guard_test():
    assert issubclass(attention_widget.AttentionWidget, traitlets.HasTraits)
