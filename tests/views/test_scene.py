"""The scenes of static/scene.js (run under node) and views/scene.py agree.

What the screen draws (scene.js in the browser) and what an export writes
(scene.py, drawn by matplotlib) are computed from the same payload bytes;
these tests run both on fixtures and compare every line, level, cell,
thumbnail, sum and title. A change to one language only fails here.
"""

import dataclasses
import json

import numpy as np
import pytest

from distil_explorer.views import payload as payload_module
from distil_explorer.views.payload import decoded, shown_of, trace_payload
from distil_explorer.views.scene import contrast, plain_scene, scene_of, strongest
from distil_explorer.views.view_state import ViewState, changed, reconcile
from tests.factories import random_mixing, random_trace
from tests.views.node_scene import NODE, js_scenes

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not on PATH")


def _state(trace, index=0, **choices) -> ViewState:
    state = reconcile(ViewState(index=index), shown_of(trace, index, 1))
    return changed(state, **choices) if choices else state


def _agree(trace, states, tmp_path, index=0, **payload_options):
    payload = trace_payload(trace, index, **payload_options)
    data = decoded(payload)
    js = js_scenes(payload, states, tmp_path)
    for state, theirs in zip(states, js, strict=True):
        ours = json.loads(json.dumps(plain_scene(scene_of(state, data))))
        assert ours.keys() == theirs.keys(), state
        for key in ours:
            assert ours[key] == theirs[key], (key, state)
    return js


CHOICES = [
    {},
    {"head": 2, "visible_heads": (0, 2)},
    {"draw_style": "heatmap", "head": 1},
    {"aggregate": "mean_heads", "visible_heads": (1, 3)},
    {"aggregate": "mean_layers"},
    {"aggregate": "mean_layers", "draw_style": "heatmap", "visible_heads": (0,)},
    {"selected_tokens": (1, 3), "selected_token": 3, "combine": "mean"},
    {"selected_token": 2, "selected_side": "key", "visible_heads": (3,), "head": 3},
    {"mode": "model"},
    {"mode": "model", "thumbnail_percentile": 100.0, "layer": 1, "head": 3},
]


def test_short_inputs_every_view_the_same_in_both_languages(tmp_path):
    trace = random_trace(layers=3, batch=2, heads=4, length=9, seed=2)
    states = [_state(trace, 1, **c) for c in CHOICES]
    scenes = _agree(trace, states, tmp_path, index=1)
    kinds = [s["kind"] for s in scenes]
    assert (
        kinds
        == ["lines"] * 2
        + ["heatmap", "lines", "lines", "heatmap"]
        + ["lines"] * 2
        + ["model"] * 2
    )
    first = scenes[0]
    assert first["title"].startswith("layer 0, heads 0\u20133 overlaid (4 of 4)")
    assert [m["head"] for m in first["maps"]] == [1, 2, 3, 0]  # focused on top


def test_long_inputs_draw_the_strongest_lines_in_both_languages(tmp_path):
    # 80 tokens > 64: without a pin, each map's strongest lines, no hover needed.
    trace = random_trace(layers=2, batch=1, heads=3, length=80, seed=4)
    states = [_state(trace), _state(trace, aggregate="mean_heads")]
    scenes = _agree(trace, states, tmp_path)
    lines = np.asarray(scenes[0]["lines"]).reshape(-1, 4)
    assert 0 < len(lines) <= 3 * 128 and scenes[0]["top"] > 0  # 384 in all
    assert "the 128 strongest lines of each map" in scenes[0]["title"]


def test_inputs_over_the_limit_send_one_layer_and_still_agree(tmp_path, monkeypatch):
    monkeypatch.setattr(payload_module, "ALL_LAYERS_UP_TO", 4)
    trace = random_trace(layers=3, batch=1, heads=2, length=7, seed=5)
    states = [_state(trace, layer=1, aggregate="mean_layers"), _state(trace, layer=1)]
    _agree(trace, states, tmp_path, layer=1)
    payload = trace_payload(trace, layer=1)
    assert payload["payload_info"]["maps_layers"] == [1] and payload["layer_mean"]


def test_scenes_come_from_the_trace_not_a_copy():
    trace = random_trace(layers=2, batch=1, heads=2, length=5, seed=6)
    state = _state(trace, draw_style="heatmap", head=1, layer=1)
    scene = scene_of(state, decoded(trace_payload(trace)))
    attention = trace.attentions[1, 0, 1]
    expected = np.floor(attention / attention.max() * 255 + 0.5).ravel()
    assert np.abs(np.asarray(scene["cells"]) - expected).max() <= 1
    assert scene["top"] == pytest.approx(attention.max(), rel=1e-2)


def test_strongest_takes_ties_in_index_order():
    values = np.array([0.1, 0.5, 0.5, 0.5, 0.2])
    assert strongest(values, 2).tolist() == [1, 2]
    assert strongest(values, 4).tolist() == [1, 2, 3, 4]


def test_contrast_shows_the_structure_a_dominant_column_hides():
    # 64 tokens: every query puts most weight on [CLS], 0.1 on 3 neighbours.
    n = 64
    attn = np.full((n, n), 1, dtype=np.uint8)
    attn[:, 0] = 255
    for shift in (-1, 0, 1):
        attn[np.arange(1, n - 1), np.arange(1, n - 1) + shift] = 36
    by_max = contrast(attn[None], 100)[0]
    by_p = contrast(attn[None], 95)[0]
    assert by_max[5, 6] == 36 and by_max[5, 20] == 1  # a faint band
    assert by_p[5, 6] == 255  # the band at full colour
    sparse = np.zeros((1, 8, 8), dtype=np.uint8)
    sparse[0, :, 0] = 128  # its 95th percentile is 0: its maximum instead
    assert contrast(sparse, 95)[0, :, 0].tolist() == [255] * 8


def test_heads_switched_off_are_named_in_every_title_and_crossed_in_both_languages(
    tmp_path,
):
    trace = random_trace(layers=3, batch=1, heads=4, length=6, seed=7)
    ablated = dataclasses.replace(trace, ablated_heads=((2, 3), (0, 1)))
    states = [
        _state(ablated),
        _state(ablated, aggregate="mean_layers"),
        _state(ablated, mode="model"),
    ]
    scenes = _agree(ablated, states, tmp_path)
    for scene in scenes:
        assert scene["title"].endswith(" \u00b7 heads off: 0.1, 2.3"), scene["title"]
    assert scenes[2]["ablated"] == [[0, 1], [2, 3]]
    # The plain run says nothing of it.
    plain = scene_of(_state(trace, mode="model"), decoded(trace_payload(trace)))
    assert plain["ablated"] == [] and "heads off" not in plain["title"]


def _mixing_state(trace, mixing, index=0, **choices) -> ViewState:
    shown = shown_of(trace, index, 1, mixing=(mixing.method,))
    return changed(reconcile(ViewState(index=index), shown), **choices)


MIXING_CHOICES = [
    {"weighting": "value_zeroing", "layer": 1},
    {"weighting": "value_zeroing", "layer": 2, "draw_style": "heatmap"},
    {"weighting": "value_zeroing", "aggregate": "rollout", "layer": 2},
    {"weighting": "value_zeroing", "aggregate": "rollout", "draw_style": "heatmap"},
    {"weighting": "value_zeroing", "aggregate": "mean_layers"},
    {"weighting": "value_zeroing", "selected_tokens": (0, 2), "selected_token": 2},
    {"weighting": "value_zeroing", "mode": "model", "layer": 1},
]


def test_mixing_weightings_and_the_rollout_the_same_in_both_languages(tmp_path):
    trace = random_trace(layers=3, batch=2, heads=4, length=9, seed=7)
    mixing = random_mixing(trace, "value_zeroing", seed=1)
    states = [_mixing_state(trace, mixing, 1, **c) for c in MIXING_CHOICES]
    scenes = _agree(
        trace, states, tmp_path, index=1, weighting="value_zeroing", mixing=mixing
    )
    kinds = [s["kind"] for s in scenes]
    assert kinds == ["lines", "heatmap", "lines", "heatmap", "lines", "lines", "model"]
    assert scenes[0]["title"] == (
        "layer 1 \u00b7 value zeroing: how much each token shapes each token's "
        "layer output (residual and LayerNorm included) \u00b7 7 tokens"
    )
    assert scenes[2]["title"].startswith("rollout through layer 2 \u00b7 value zero")
    assert scenes[0]["maps"] == [{"head": None, "colour": None}]  # no heads
    assert scenes[6]["heads"] == [] and len(scenes[6]["thumbs"]) == 3 * 7 * 7
    # The heatmaps are the mixing map and its rollout, not attention.
    real = slice(0, 7)
    for scene, expected in (
        (scenes[1], mixing.per_layer[2, 1, real, real]),
        (scenes[3], mixing.rollout[0, 1, real, real]),
    ):
        cells = np.floor(expected / expected.max() * 255 + 0.5).ravel()
        assert np.abs(np.asarray(scene["cells"]) - cells).max() <= 1


def test_alti_over_the_one_layer_limit_agrees(tmp_path, monkeypatch):
    monkeypatch.setattr(payload_module, "ALL_LAYERS_UP_TO", 4)
    trace = random_trace(layers=3, batch=1, heads=2, length=7, seed=8)
    mixing = random_mixing(trace, "alti", seed=2)
    choices = [{"aggregate": "mean_layers"}, {"aggregate": "rollout"}, {}]
    states = [
        _mixing_state(trace, mixing, weighting="alti", layer=1, **c) for c in choices
    ]
    scenes = _agree(trace, states, tmp_path, layer=1, weighting="alti", mixing=mixing)
    assert (
        "ALTI: how much each token shapes each token's attention-block"
        in (scenes[2]["title"])
    )
