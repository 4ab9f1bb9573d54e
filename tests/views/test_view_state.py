"""ViewState and reconcile: the one place choices are reset when the model or
the Trace changes, and `changed`, the one place a person's change is checked."""

import dataclasses

import pytest

from distil_explorer.views.view_state import Shown, ViewState, changed, reconcile

TWELVE = Shown(
    layers=tuple(range(6)),
    heads=tuple(range(12)),
    num_heads=12,
    tokens=("[CLS]", "the", "cat", "[SEP]"),
    batch=1,
    trace=1,
)
FOUR = Shown(
    layers=(0, 1, 2, 3),
    heads=(0, 1, 2, 3),
    num_heads=4,
    tokens=("5", "6", "7"),
    batch=1,
    has_tokenizer=False,
    trace=2,
)
BUILT = Shown(num_heads=4, has_tokenizer=False)  # a new build, not run yet


def test_a_new_build_clears_every_trace_derived_choice():
    state = reconcile(ViewState(), TWELVE)
    state = changed(
        state, layer=5, head=9, visible_heads=(9, 11), selected_token=2, index=0
    )
    state = changed(state, draw_style="heatmap", aggregate="mean_heads")
    cleared = reconcile(state, BUILT)
    assert (cleared.layer, cleared.head, cleared.visible_heads) == (0, 0, ())
    assert (cleared.selected_tokens, cleared.selected_token) == ((), -1)
    # How a person likes to look is kept: not about one Trace.
    assert (cleared.draw_style, cleared.aggregate) == ("heatmap", "mean_heads")


def test_a_new_head_count_shows_every_head():
    state = changed(reconcile(ViewState(), FOUR), visible_heads=(0, 1))
    assert state.visible() == (0, 1)
    back = reconcile(state, TWELVE)
    assert back.visible_heads == () and back.visible() == tuple(range(12))


def test_another_run_of_the_same_model_keeps_the_chosen_heads_not_the_pins():
    state = changed(reconcile(ViewState(), TWELVE), visible_heads=(2, 5), head=5)
    state = changed(state, selected_token=1)
    same = reconcile(state, Shown(**{**TWELVE.__dict__, "trace": 3}))
    assert same.visible_heads == (2, 5) and same.selected_token == 1  # same length
    other = reconcile(state, Shown(**{**TWELVE.__dict__, "trace": 4, "tokens": ("a",)}))
    assert other.visible_heads == (2, 5) and other.selected_token == -1


def test_the_run_mode_follows_the_tokenizer():
    state = reconcile(ViewState(), TWELVE)
    assert state.run_mode == "text"
    state = reconcile(state, BUILT)
    assert state.run_mode == "token ids"  # no tokenizer: ids only
    assert reconcile(state, TWELVE).run_mode == "text"  # a tokenizer again
    ids = reconcile(state.replace(run_mode="token ids"), FOUR)
    assert reconcile(ids, Shown(num_heads=12)).run_mode == "text"


def test_norms_only_while_the_trace_holds_them():
    normed = Shown(**{**TWELVE.__dict__, "has_norms": True})
    state = changed(reconcile(ViewState(), normed), weighting="norms")
    assert reconcile(state, normed).weighting == "norms"
    assert reconcile(state, TWELVE).weighting == "weights"
    with pytest.raises(ValueError, match="weighting='norms': this Trace has no"):
        changed(reconcile(ViewState(), TWELVE), weighting="norms")


def test_layer_and_head_clamp_to_what_is_held():
    state = changed(reconcile(ViewState(), TWELVE), layer=5, head=9)
    small = reconcile(state, FOUR)
    assert (small.layer, small.head) == (0, 0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"layer": 6}, r"layer=6: not in this Trace; allowed: one of \[0, 1, 2"),
        ({"head": 12}, r"head=12: not in this Trace"),
        ({"visible_heads": (3, 3)}, r"visible_heads=\[3, 3\]: allowed: distinct"),
        ({"selected_tokens": (4,)}, r"selected_tokens=\[4\]: allowed: .*0\.\.3"),
        ({"mode": "grid"}, r"mode='grid': allowed: \['head', 'model'\]"),
        ({"thumbnail_percentile": 10}, r"thumbnail_percentile=10: allowed: 50\.\.100"),
        ({"colour": "red"}, r"\['colour'\]: not view choices"),
        ({"head": 2, "visible_heads": (0, 1)}, r"head=2: not among visible_heads"),
    ],
)
def test_bad_choices_are_refused_naming_the_value(changes, message):
    with pytest.raises(ValueError, match=message):
        changed(reconcile(ViewState(), TWELVE), **changes)


def test_the_focused_head_stays_visible_and_the_last_pin_among_the_pins():
    state = reconcile(ViewState(), TWELVE)
    state = changed(state, visible_heads=(3, 7))
    assert state.head == 3  # the nearest visible to head 0
    state = changed(state, head=9)
    assert state.visible_heads == (3, 7, 9)
    state = changed(state, selected_tokens=(2, 0))
    assert (state.selected_tokens, state.selected_token) == ((0, 2), 2)


MIXING = dataclasses.replace(TWELVE, mixing=("value_zeroing", "alti"))
NO_MIXING = dataclasses.replace(
    TWELVE, trace=3, mixing_note="this Trace ran with heads ablated"
)


def test_a_mixing_weighting_survives_a_rerun_and_falls_back_where_it_cannot_be():
    state = changed(reconcile(ViewState(), MIXING), weighting="alti", layer=2)
    state = changed(state, aggregate="rollout")
    again = reconcile(state, dataclasses.replace(MIXING, trace=9))
    assert (again.weighting, again.aggregate, again.layer) == ("alti", "rollout", 2)
    off = reconcile(state, NO_MIXING)
    assert (off.weighting, off.aggregate) == ("weights", "head")
    with pytest.raises(ValueError, match="alti.*ablated; allowed: \\['weights'\\]"):
        changed(off, weighting="alti")
    # A new build: nothing Trace-derived, the rollout with it.
    assert reconcile(state, BUILT).aggregate == "head"


def test_the_head_choices_are_kept_but_rollout_and_head_means_do_not_cross():
    state = changed(reconcile(ViewState(), MIXING), visible_heads=(3, 7), head=7)
    mixed = changed(state, weighting="value_zeroing")
    assert (mixed.visible_heads, mixed.head) == ((3, 7), 7)  # kept for later
    with pytest.raises(ValueError, match="aggregate='mean_heads': a context-mixing"):
        changed(mixed, aggregate="mean_heads")
    with pytest.raises(ValueError, match="aggregate='rollout': only with"):
        changed(state, aggregate="rollout")
    rolled = changed(mixed, aggregate="rollout")
    assert changed(rolled, weighting="weights").aggregate == "head"
    heads = changed(state, aggregate="mean_heads")
    assert changed(heads, weighting="alti").aggregate == "head"
