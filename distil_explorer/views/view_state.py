"""`ViewState`: every choice a person makes on screen, as one plain value.

The canvas widget's traits, the explorer's tabs, the export and the HTML
report all read and write this one frozen dataclass. `reconcile` is the only
place a choice is reset or clamped when the model or the Trace changes; the
rule is that a choice whose meaning changed goes back to its default (a new
head count shows every head, a new build clears every Trace-derived view, a
model with a tokenizer returns the Run tab to text). `changed` applies a
person's own change (a click) and says in one sentence why a value cannot be
taken. No widget library is imported.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from distil_explorer.views.weighting import MIXING, WEIGHTINGS

# "rollout" only with a mixing weighting; "mean_heads" only without.
AGGREGATES = ("head", "mean_heads", "mean_layers", "rollout")
MODES = ("head", "model")
DRAW_STYLES = ("lines", "heatmap")
SIDES = ("query", "key")
COMBINES = ("sum", "mean")
RUN_MODES = ("text", "token ids")
# Attribution targets every backbone offers; a task head adds its own.
BACKBONE_TARGETS = ("cls_norm", "similarity")
# Choices that name a member of a fixed set.
_ENUMS = {
    "mode": MODES,
    "draw_style": DRAW_STYLES,
    "aggregate": AGGREGATES,
    "selected_side": SIDES,
    "combine": COMBINES,
    "weighting": WEIGHTINGS,
    "run_mode": RUN_MODES,
}


@dataclass(frozen=True)
class Shown:
    """What the model and the Trace on screen offer the choices.

    Args:
        layers: tuple of ints. Layers the Trace holds maps of; () without one.
        heads: tuple of ints. Heads it holds; () without a Trace.
        num_heads: int. Heads per layer of the model built (0: none built).
        tokens: tuple of str. Tokens of the sequence shown, padding dropped.
        batch: int. Sequences in the Trace (0 without one).
        has_norms: bool. The Trace holds `attention_norms`.
        has_tokenizer: bool. The model built can run text.
        mixing: tuple of str. The context-mixing weightings ("value_zeroing",
            "alti") this Trace can be drawn with: held, or computable here.
        mixing_note: str. Why the others are off ("" when none is).
        trace: int. Which Trace this is (a new number for every new Trace),
            -1 for none: choices about tokens belong to one Trace.
        task_targets: tuple of (label, key). Attribution targets the task
            head built adds (`Session.task_targets`); () for a backbone.

    Examples:
    ```python
    Shown(layers=(0, 1), heads=(0, 1, 2, 3), num_heads=4, tokens=("a", "b"),
          batch=1, trace=7)
    ```
    """

    layers: tuple[int, ...] = ()
    heads: tuple[int, ...] = ()
    num_heads: int = 0
    tokens: tuple[str, ...] = ()
    batch: int = 0
    has_norms: bool = False
    has_tokenizer: bool = True
    trace: int = -1
    mixing: tuple[str, ...] = ()
    mixing_note: str = ""
    task_targets: tuple[tuple[str, str], ...] = ()

    @property
    def has_trace(self) -> bool:
        return self.trace >= 0


@dataclass(frozen=True)
class ViewState:
    """Every choice a person makes on screen; defaults are what a new app shows.

    Args:
        tab: str. The explorer tab on screen.
        mode: str. "head" (one layer) or "model" (every layer x head).
        draw_style: str. "lines" or "heatmap".
        layer, head: int. The layer shown and the focused head (model indices).
        visible_heads: tuple of ints. Heads overlaid and averaged; () means
            every head (the default, and what a new head count returns to).
        aggregate: str. "head", "mean_heads" or "mean_layers"; with a mixing
            weighting "head" is the layer's one map, and "rollout" is there
            (the layers multiplied through `layer`), "mean_heads" is not.
        selected_tokens: tuple of ints. Pinned tokens, sorted.
        selected_token: int. The last pinned (-1: none), in `selected_tokens`.
        selected_side: str. "query" (rows: where they look) or "key".
        combine: str. "sum" or "mean" of several pins' rows or columns.
        weighting: str. "weights", "norms" (Trace.attention_norms), or a
            context-mixing weighting, "value_zeroing" or "alti" (one map per
            layer: the head choices are kept but do not apply).
        index: int. The sequence of the batch shown.
        thumbnail_percentile: float. Model-view contrast, 50..100.
        export_view: str. The view the export bar writes.
        export_name: str. Its file name ("" : the view's own name).
        run_mode: str. "text" or "token ids" in the Run tab.
        attribution_target: str. The Attribution tab's target: one of
            `BACKBONE_TARGETS` or a key of `shown.task_targets`.
        shown: Shown. What these choices were last reconciled with.

    Examples:
    ```python
    state = ViewState(layer=2, head=5, visible_heads=(5,))
    state = reconcile(state, Shown(layers=(0, 1), heads=(0, 1), num_heads=2,
                                   tokens=("a",), batch=1, trace=1))
    state.layer, state.visible_heads  # (0, ())
    ```
    """

    tab: str = "Build"
    mode: str = "head"
    draw_style: str = "lines"
    layer: int = 0
    head: int = 0
    visible_heads: tuple[int, ...] = ()
    aggregate: str = "head"
    selected_tokens: tuple[int, ...] = ()
    selected_token: int = -1
    selected_side: str = "query"
    combine: str = "sum"
    weighting: str = "weights"
    index: int = 0
    thumbnail_percentile: float = 95.0
    export_view: str = "head"
    export_name: str = ""
    run_mode: str = "text"
    attribution_target: str = "cls_norm"
    shown: Shown = Shown()

    def visible(self) -> tuple[int, ...]:
        """The heads drawn: `visible_heads`, or every head held when it is ()."""
        return self.visible_heads or self.shown.heads

    def pins(self) -> tuple[int, ...]:
        """The tokens whose rows or columns are drawn, () when none."""
        if self.selected_tokens:
            return self.selected_tokens
        return (self.selected_token,) if self.selected_token >= 0 else ()

    def replace(self, **changes: Any) -> ViewState:
        return dataclasses.replace(self, **changes)


def reconcile(state: ViewState, shown: Shown) -> ViewState:
    """`state` made valid for `shown`: the only place choices are reset or clamped.

    - no Trace: every Trace-derived choice (layer, head, heads, pins, index)
      goes back to its default;
    - a Trace whose heads differ from the last one's (a new head count or
      another subset): every head visible; else the visible heads it holds;
    - layer and head kept where the Trace holds them, else its first;
    - pins kept only while the sequence has as many tokens (a masked token
      keeps its place), cleared otherwise;
    - norms only while the Trace holds them, a mixing weighting only while
      the Trace can have it (`Shown.mixing`), else the weights; the rollout
      aggregate only with a mixing weighting;
    - a model that gained a tokenizer returns the Run tab to text, one
      without a tokenizer runs token ids;
    - a task head's attribution target ("class:1") goes back to "cls_norm"
      when the head's targets change (another head, or none).

    Examples:
    ```python
    reconcile(ViewState(visible_heads=(0,)), Shown(heads=(0, 1), trace=1))
    # visible_heads=() (every head): the head set changed
    ```
    """
    old = state.shown
    run_mode = state.run_mode
    if not shown.has_tokenizer:
        run_mode = "token ids"
    elif not old.has_tokenizer:
        run_mode = "text"
    target = state.attribution_target
    offered = BACKBONE_TARGETS + tuple(key for _, key in shown.task_targets)
    if target not in offered or (
        target not in BACKBONE_TARGETS and old.task_targets != shown.task_targets
    ):
        target = "cls_norm"  # another head: its class k is another class
    changes: dict[str, Any] = {
        "shown": shown,
        "run_mode": run_mode,
        "attribution_target": target,
    }
    if not shown.has_trace:
        fresh = ViewState()
        keep = ("tab", "mode", "draw_style", "aggregate", "combine")
        keep += ("thumbnail_percentile", "export_view", "export_name")
        kept = {name: getattr(state, name) for name in keep}
        return _consistent(fresh.replace(**kept, **changes))
    same_heads = old.has_trace and old.heads == shown.heads
    visible = tuple(h for h in state.visible_heads if h in shown.heads)
    if not same_heads or len(visible) in (0, len(shown.heads)):
        visible = ()
    layer = state.layer if state.layer in shown.layers else shown.layers[0]
    head = state.head if state.head in shown.heads else shown.heads[0]
    if visible and head not in visible:
        head = _nearest(head, visible)
    pins, pinned = state.selected_tokens, state.selected_token
    if len(old.tokens) != len(shown.tokens) or not old.has_trace:
        pins, pinned = (), -1  # other positions (a mask keeps them: same length)
    changes.update(
        layer=layer,
        head=head,
        visible_heads=visible,
        selected_tokens=pins,
        selected_token=pinned,
        index=state.index if state.index < shown.batch else 0,
        weighting=_available(state.weighting, shown),
    )
    return _consistent(state.replace(**changes))


def _available(weighting: str, shown: Shown) -> str:
    if weighting == "norms" and shown.has_norms or weighting in shown.mixing:
        return weighting
    return "weights"


def _consistent(state: ViewState) -> ViewState:
    """The aggregate that means something for the weighting: a mixing map has
    no heads to average, and only a mixing map rolls out."""
    mixing = state.weighting in MIXING
    if mixing and state.aggregate == "mean_heads":
        return state.replace(aggregate="head")
    if not mixing and state.aggregate == "rollout":
        return state.replace(aggregate="head")
    return state


def changed(state: ViewState, **changes: Any) -> ViewState:
    """`state` with a person's `changes`, kept consistent, or ValueError.

    A focused head is always visible (choosing one that is hidden shows it;
    hiding the focused one focuses the nearest visible); the last pin is
    always among the pins. Values are checked against `state.shown`; the
    error names the value and what is allowed.

    Examples:
    ```python
    changed(state, head=3).visible_heads  # holds 3
    changed(state, layer=99)  # ValueError: layer=99: not in this Trace; ...
    ```
    """
    unknown = set(changes) - {f.name for f in dataclasses.fields(ViewState)}
    if unknown:
        raise ValueError(f"{sorted(unknown)}: not view choices")
    for name, value in changes.items():
        changes[name] = checked_choice(name, value, state.shown)
    _check_aggregate(changes, state)
    new = _consistent(state.replace(**changes))
    heads = new.shown.heads
    visible = new.visible_heads
    if "visible_heads" in changes and visible and new.head not in visible:
        if "head" in changes:
            raise ValueError(
                f"head={new.head}: not among visible_heads={list(visible)}; "
                "allowed: one of them"
            )
        new = new.replace(head=_nearest(new.head, visible))
    elif "head" in changes and visible and new.head not in visible:
        visible = tuple(sorted({*visible, new.head}))
        new = new.replace(visible_heads=visible)
    if heads and len(new.visible_heads) == len(heads):
        new = new.replace(visible_heads=())
    pins, pinned = new.selected_tokens, new.selected_token
    if "selected_tokens" in changes and pinned not in pins:
        new = new.replace(selected_token=pins[-1] if pins else -1)
    elif "selected_token" in changes and pinned not in pins:
        new = new.replace(selected_tokens=() if pinned < 0 else (pinned,))
    return new


def _check_aggregate(changes: dict[str, Any], state: ViewState) -> None:
    """A person's aggregate must mean something for the weighting it goes with."""
    aggregate = changes.get("aggregate")
    mixing = changes.get("weighting", state.weighting) in MIXING
    if aggregate == "rollout" and not mixing:
        raise ValueError(
            "aggregate='rollout': only with a context-mixing weighting; allowed: "
            f"{list(AGGREGATES[:3])}, or weighting one of {list(MIXING)}"
        )
    if aggregate == "mean_heads" and mixing:
        raise ValueError(
            "aggregate='mean_heads': a context-mixing map has no heads; allowed: "
            "'head' (the layer's map), 'mean_layers', 'rollout'"
        )


def checked_choice(name: str, value: Any, shown: Shown) -> Any:
    """`value` for choice `name` if `shown` allows it, else ValueError."""
    if name in _ENUMS:
        if value not in _ENUMS[name]:
            raise ValueError(f"{name}={value!r}: allowed: {list(_ENUMS[name])}")
        if name == "weighting" and value == "norms" and not shown.has_norms:
            raise ValueError(
                "weighting='norms': this Trace has no attention_norms; allowed: "
                "'weights', or a Trace captured with norms=True"
            )
        if name == "weighting" and value in MIXING and value not in shown.mixing:
            why = shown.mixing_note or "no context mixing for this Trace"
            raise ValueError(
                f"weighting={value!r}: {why}; allowed: "
                f"{['weights', *(['norms'] * shown.has_norms), *shown.mixing]}"
            )
        return value
    if name in ("layer", "head"):
        held = shown.layers if name == "layer" else shown.heads
        if value in (held or (0,)):
            return int(value)
        allowed = f"one of {list(held)}" if held else "0 (no Trace shown yet)"
        raise ValueError(f"{name}={value}: not in this Trace; allowed: {allowed}")
    if name == "visible_heads":
        value = tuple(int(h) for h in value)
        held = shown.heads
        if not value or (len(set(value)) == len(value) and set(value) <= set(held)):
            return tuple(sorted(value))
        raise ValueError(
            f"visible_heads={list(value)}: allowed: distinct heads among "
            f"{list(held)} ([] for all)"
        )
    if name in ("selected_token", "selected_tokens"):
        return _checked_tokens(name, value, len(shown.tokens))
    if name == "index":
        if 0 <= value < max(shown.batch, 1):
            return int(value)
        raise ValueError(
            f"index={value}: out of range; allowed: 0..{max(shown.batch, 1) - 1}"
        )
    if name == "thumbnail_percentile":
        if 50.0 <= value <= 100.0:
            return float(value)
        raise ValueError(f"thumbnail_percentile={value}: allowed: 50..100")
    return value


def _checked_tokens(name: str, value: Any, n: int) -> Any:
    if name == "selected_token":
        if -1 <= value < n:
            return int(value)
        raise ValueError(
            f"selected_token={value}: out of range; allowed: -1 (none) or 0..{n - 1}"
        )
    value = tuple(int(t) for t in value)
    if len(set(value)) == len(value) and all(0 <= t < n for t in value):
        return tuple(sorted(value))
    raise ValueError(
        f"selected_tokens={list(value)}: allowed: distinct tokens among 0..{n - 1}"
    )


def _nearest(value: int, among: tuple[int, ...]) -> int:
    """The member of `among` (non-empty) closest to `value`, the lower on a tie."""
    return min(among, key=lambda h: (abs(h - value), h))


def heads_text(heads: tuple[int, ...] | list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2, 5' (runs joined by an en dash), as scene.js writes it.

    Examples:
    ```python
    heads_text([0, 1, 2, 5])  # '0\u20132, 5'
    ```
    """
    runs: list[list[int]] = []
    for h in heads:
        if runs and h == runs[-1][-1] + 1:
            runs[-1].append(h)
        else:
            runs.append([h])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}\u2013{r[-1]}" for r in runs)
