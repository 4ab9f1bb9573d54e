"""The widget-free Session: build -> run -> intervene -> restore -> keep A -> compare.

No widget library is imported by any of it, and importing the session loads
no matplotlib and no framework (checked in fresh processes, where nothing else
could have imported them first).
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from distil_explorer.session import BuildRequest, Session, parse_token_ids
from tests.conftest import TINY

PRESET = Path(__file__).parent / "fixtures" / "keras_hub_tiny" / "preset"


@pytest.fixture(scope="module")
def session():
    session = Session()
    session.build(BuildRequest(str(PRESET)))
    yield session
    session.close()


def test_importing_session_and_config_loads_no_widget_plot_or_framework():
    code = (
        "import sys, distil_explorer.session, distil_explorer.config\n"
        "bad = [m for m in ('ipywidgets', 'anywidget', 'matplotlib', 'keras', "
        "'torch') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_a_whole_session_runs_with_no_widget_library(tmp_path):
    # build -> run -> intervene -> restore -> keep_as_a -> run on another
    # backend, all in one fresh process that must never import a widget.
    code = f"""
import sys
from distil_explorer.session import BuildRequest, Session
from distil_explorer.runtime.backends import available_backends

session = Session()
session.build(BuildRequest({str(PRESET)!r}))
first = session.run("the cat sat")
assert first.tokens[0] == ("[CLS]", "the", "cat", "sat", "[SEP]"), first.tokens
effect = session.intervene(2, "mask")
assert session.trace.tokens[0][2] == "[MASK]"
assert effect.attention_change.shape == (2, 2)
assert session.restore() is first
session.keep_as_a()
other = "numpy" if "numpy" in available_backends() else "torch"
second = session.run("the cat sat", backend=other)
assert second.backend == other, second.backend
comparison = session.comparison()
assert comparison.b is second and comparison.problem is None
assert comparison.difference.max_abs < 1e-5, comparison.difference.max_abs
session.close()
# (keras itself imports matplotlib where it is installed: not checked here)
bad = [m for m in ("ipywidgets", "anywidget") if m in sys.modules]
assert not bad, bad
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).parents[1],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")


def test_build_reports_timings_rows_and_special_ids(session):
    assert [name for name, _ in session.timings.steps] == ["backbone", "tokenizer"]
    assert sum(r.params for r in session.parameter_rows) == (
        session.backbone.count_params()
    )
    cls, sep = session.special_ids
    assert session.tokenizer.id_to_token(cls) == "[CLS]"
    assert session.tokenizer.id_to_token(sep) == "[SEP]"
    assert session.tokenizer_problem is None


def test_run_keeps_the_encodings_tokens_and_where_it_ran(session):
    trace = session.run("the cat sat", max_length=4)
    assert trace.tokens[0] == ("[CLS]", "the", "cat", "[SEP]")  # truncated
    assert (trace.backend, trace.device) == ("torch", "cpu")
    assert trace.queries is not None  # the query/key view needs them
    assert "tokenize" in session.timings.text()


def test_token_ids_and_dicts_run_too(session):
    ids = session.run([2, 5, 6, 3])
    assert ids.tokens is None and ids.token_ids.tolist() == [[2, 5, 6, 3]]
    batch = {
        "token_ids": np.array([[2, 5, 3]]),
        "padding_mask": np.ones((1, 3), "int32"),
    }
    assert session.run(batch).token_ids.shape == (1, 3)


def test_interventions_compound_and_restore_returns_the_original(session):
    original = session.run("the cat sat")
    session.intervene(1, "mask")
    twice = session.trace
    session.intervene(1, "remove")
    assert session.trace.tokens[0] == ("[CLS]", "cat", "sat", "[SEP]")
    assert session.trace is not twice
    assert session.baseline is original
    assert session.restore() is original and session.baseline is None


def test_runs_capture_norms_unless_told_not_to_and_interventions_follow(session):
    trace = session.run("the cat sat")
    assert trace.attention_norms is not None
    assert trace.attention_norms.shape == trace.attentions.shape
    session.intervene(1, "mask")
    assert session.trace.attention_norms is not None
    plain = session.run("the cat sat", norms=False)
    assert plain.attention_norms is None
    session.intervene(1, "mask")  # as the Trace on screen: without
    assert session.trace.attention_norms is None


def test_comparison_of_a_different_input_says_why_there_is_no_b(session):
    session.run("the cat sat")
    session.keep_as_a()
    assert session.comparison().problem.startswith("run A's input again")
    session.run("the cat")
    comparison = session.comparison()
    assert comparison.b is None and "different inputs" in comparison.problem
    same = session.run("the cat sat")
    assert session.comparison().b is same


def test_a_kept_a_survives_a_new_build_and_labels_say_what_was_built():
    session = Session()
    session.build(BuildRequest(str(PRESET)))
    session.run([2, 5, 6, 3])
    session.keep_as_a()
    session.build(BuildRequest(str(PRESET), load_weights=False))
    assert session.trace is None  # the old Trace is not of this model
    session.run([2, 5, 6, 3])
    comparison = session.comparison()
    assert comparison.b is session.trace
    assert "(random weights)" in comparison.b_label
    assert "(random weights)" not in comparison.a_label
    assert comparison.difference.max_abs > 1e-3  # other weights, other maps


def test_custom_config_builds_without_tokenizer_and_says_so():
    session = Session()
    session.build(BuildRequest(config={**TINY, "dtype": "float32"}))
    assert session.tokenizer is None and "no vocabulary" in session.tokenizer_problem
    with pytest.raises(ValueError, match="text: this backbone has no tokenizer"):
        session.run("the cat")
    trace = session.run([2, 5, 6, 3])
    assert session.special_ids == (2, 3)  # first and last id stand in
    with pytest.raises(ValueError, match="mask: needs a tokenizer"):
        session.intervene(1, "mask")
    session.intervene(1, "remove")
    assert session.trace.token_ids.tolist() == [[2, 6, 3]]
    assert trace is session.baseline


def test_a_broken_tokenizer_builds_with_a_sentence_saying_why(tmp_path):
    import shutil

    preset = tmp_path / "preset"
    shutil.copytree(PRESET, preset)
    for vocab in preset.rglob("vocabulary.txt"):
        vocab.write_text("")
    session = Session()
    session.build(BuildRequest(str(preset)))
    assert session.backbone is not None and session.tokenizer is None
    assert "could not be read" in session.tokenizer_problem
    assert str(preset) in session.tokenizer_problem


def test_a_failed_build_changes_nothing(session, tmp_path):
    backbone, trace = session.backbone, session.run("the cat sat")
    with pytest.raises((ValueError, OSError)):
        session.build(BuildRequest(str(tmp_path / "missing")))
    assert session.backbone is backbone and session.trace is trace


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of preset"),
        ({"preset": "x", "config": TINY}, "exactly one of preset"),
        ({"preset": "  "}, "preset='  '"),
        ({"preset": "x", "load_weights": "no"}, "load_weights='no'"),
        ({"config": {**TINY, "num_heads": 3}}, "not divisible by num_heads=3"),
        ({"config": {**TINY, "heads": 3}}, r"unknown \['heads'\]"),
        ({"config": {"num_layers": 2}}, r"missing \['hidden_dim'"),
    ],
)
def test_bad_build_requests_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BuildRequest(**kwargs)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.run([2, "x", 3]), r"'x' is not one"),
        (lambda s: s.run([]), "a non-empty sequence of ints"),
        (lambda s: s.run(3.5), "inputs=float"),
        (lambda s: s.run([2, 3], max_length=0), "max_length=0"),
        (lambda s: s.run([2, 3], max_length="8"), "max_length='8'"),
        (lambda s: s.intervene(99, "mask"), "position=99"),
        (lambda s: s.intervene(1, "swap"), "action='swap'"),
        (lambda s: s.intervene(True, "mask"), "position=True"),
        (lambda s: s.run([2, 3], norms="yes"), "norms='yes': not a bool"),
    ],
)
def test_bad_calls_name_the_argument(session, call, message):
    session.run("the cat sat")
    with pytest.raises(ValueError, match=message):
        call(session)


def test_nothing_runs_before_a_build():
    session = Session()
    with pytest.raises(ValueError, match="run: no backbone yet"):
        session.run("the cat")
    with pytest.raises(ValueError, match="intervene: no Trace yet"):
        session.intervene(0, "mask")
    with pytest.raises(ValueError, match="keep: no run yet"):
        session.keep_as_a()
    assert session.comparison() is None and session.restore() is None


@pytest.mark.parametrize(
    ("text", "ids"), [("101 2023, 102", [101, 2023, 102]), (" 7 ", [7])]
)
def test_parse_token_ids(text, ids):
    assert parse_token_ids(text) == ids


@pytest.mark.parametrize("text", ["", "1 two 3", "1.5", None])
def test_parse_token_ids_refuses_what_is_not_ids(text):
    with pytest.raises(ValueError, match="token ids="):
        parse_token_ids(text)


def test_a_preset_builds_at_another_precision_and_says_so():
    session = Session()
    session.build(BuildRequest(str(PRESET), precision="int8"))
    assert session.backbone.quantization_modes == ("int8",)
    assert session.name.endswith(", int8")
    trace = session.run("the cat sat")
    assert trace.config["dtype"].startswith("int8")
    session.build(BuildRequest(config={**TINY}, precision="bfloat16"))
    assert session.backbone.dtype_policy.name == "bfloat16"


def test_compare_precisions_measures_each_against_the_run_on_screen(session):
    reference = session.run("the cat sat")
    result = session.compare_precisions(["bfloat16", "int8", "float32"])
    assert result.reference is reference and session.trace is reference
    assert result.precisions == ("bfloat16", "int8", "float32")
    by_name = dict(zip(result.precisions, result.differences, strict=True))
    assert by_name["float32"].attention_max.max() < 1e-6  # same weights, same maps
    for name in ("bfloat16", "int8"):
        difference = by_name[name]
        assert difference.attention_max.shape == (2, 2)
        assert 0 < difference.attention_mean.max() <= difference.attention_max.max()
    assert result.traces[1].config["dtype"].startswith("int8")


@pytest.mark.parametrize(
    ("precisions", "message"),
    [("int8", "precisions='int8'"), ([], "precisions=\\[\\]"), (["int9"], "int9")],
)
def test_compare_precisions_names_a_bad_choice(session, precisions, message):
    session.run("the cat sat")
    with pytest.raises(ValueError, match=message):
        session.compare_precisions(precisions)


def test_a_run_too_big_for_the_memory_limit_is_refused_before_the_runner(
    session, monkeypatch
):
    from distil_explorer import set_memory_limit
    from distil_explorer.errors import NotEnoughMemoryError

    sent = []
    real = session._runner
    monkeypatch.setattr(session, "_runner", lambda *a: sent.append(a) or real(*a))
    ids = np.ones((1, session.backbone.max_sequence_length), "int32")
    inputs = {"token_ids": ids, "padding_mask": ids}
    set_memory_limit("1 kB")
    try:
        with pytest.raises(NotEnoughMemoryError) as refused:
            session.run(inputs)
    finally:
        set_memory_limit(None)
    message = str(refused.value)
    length = ids.shape[1]
    assert message.startswith(f"capture(B=1, T={length}): needs about ")
    assert "allowed: layers= or heads= (keep fewer maps)" in message
    assert "a smaller max_length, norms=False, keep_qk=False" in message
    assert sent == []  # refused before a Runner was even asked for
    assert session.run(inputs).token_ids.shape == (1, length)  # no limit: runs
