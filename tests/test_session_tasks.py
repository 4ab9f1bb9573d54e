"""The Session with a task head: a preset that names a head builds its task
model, and the session says what it predicts for the Trace on screen.

Tiny presets are written in the test: the fixture's backbone (vocabulary of
64, with its tokenizer) under a random classifier or masked-LM head, saved as
keras-hub task presets; and tiny transformers checkpoints for the
`architectures` path.
"""

import numpy as np
import pytest

import distil_explorer as de
from distil_explorer.session import BuildRequest, Session
from distil_explorer.session.inputs import first_sequence
from distil_explorer.weights.task_loading import held_head
from tests.factories import TINY_PRESET as PRESET
from tests.factories import random_transformers_task, write_task_preset

NAMES = ("negative", "positive")


def masked_ids(tokenizer) -> dict:
    """ "the cat sat" with "cat" masked, as ids (the fixture's vocabulary
    has [MASK] but its tokenizer reads "[MASK]" in text as three words)."""
    ids = tokenizer("the cat sat").token_ids.copy()
    ids[0, 2] = tokenizer.token_to_id("[MASK]")
    return {"token_ids": ids, "padding_mask": np.ones_like(ids)}


@pytest.fixture(scope="module")
def presets(tmp_path_factory):
    root = tmp_path_factory.mktemp("task_presets")
    return {
        "classifier": write_task_preset(root / "classifier", "classifier", 3),
        "tuned": write_task_preset(root / "tuned", "classifier", 5),
        "masked_lm": write_task_preset(root / "masked_lm", "masked_lm", 4),
    }


@pytest.fixture(scope="module")
def classifier(presets):
    session = Session()
    session.build(BuildRequest(str(presets["classifier"])))
    yield session
    session.close()


@pytest.fixture(scope="module")
def masked_lm(presets):
    session = Session()
    session.build(BuildRequest(str(presets["masked_lm"])))
    yield session
    session.close()


def test_a_classifier_preset_builds_its_head_and_says_so(classifier):
    task = classifier.task
    assert isinstance(task, de.DistilBertTextClassifier)
    assert classifier.backbone is task.backbone  # every backbone view still works
    assert classifier.head_text == (
        "text classifier head: 2 classes (negative, positive)"
    )
    assert classifier.timings.steps[0][0] == "task model"
    assert classifier.parameter_rows  # the backbone's table
    assert classifier.task_targets == (
        ("class negative", "class:0"),
        ("class positive", "class:1"),
    )


def test_class_probabilities_of_the_trace_on_screen(classifier):
    trace = classifier.run("the cat sat")
    classes = classifier.classes
    expected = de.classify(classifier.task, "the cat sat", classifier.tokenizer)
    np.testing.assert_allclose(classes.probabilities, expected.probabilities, atol=1e-6)
    assert classes.class_names == NAMES
    assert classifier.classes is classes  # computed once per Trace
    classifier.intervene(2, "mask")
    masked = classifier.classes
    assert masked is not classes
    again = de.classify(classifier.task, masked_ids(classifier.tokenizer))
    np.testing.assert_allclose(masked.probabilities, again.probabilities, atol=1e-6)
    assert classifier.restore() is trace
    assert classifier.lens is None and classifier.predictions_at(1) is None


def test_a_masked_lm_preset_gives_the_lens_and_predictions_at_a_masked_token(
    masked_lm,
):
    task, tokenizer = masked_lm.task, masked_lm.tokenizer
    assert masked_lm.head_text == (
        "masked-LM head tied to the token embedding (64 tokens)"
    )
    trace = masked_lm.run("the cat sat")
    assert masked_lm.classes is None
    lens = masked_lm.lens
    assert lens is masked_lm.lens  # computed on first read, then kept
    expected = de.layer_predictions(task, trace, 5)
    np.testing.assert_array_equal(lens.top_ids, expected.top_ids)
    masked_lm.intervene(2, "mask")
    assert masked_lm.trace.tokens[0][2] == "[MASK]"
    shown = masked_lm.predictions_at(2)
    direct = de.predict_masked(task, masked_ids(tokenizer), 10, tokenizer=tokenizer)
    np.testing.assert_array_equal(shown.top_ids, direct.top_ids)
    np.testing.assert_allclose(shown.probabilities, direct.probabilities, atol=1e-6)
    after = masked_lm.lens
    assert after is not lens
    # The masked position is judged against the token that was there.
    assert after.actual_ids[0, 2] == tokenizer.token_to_id("cat")
    assert masked_lm.trace.token_ids[0, 2] == tokenizer.token_to_id("[MASK]")
    masked_lm.restore()


def test_task_targets_attribute_on_the_task_model(classifier, masked_lm):
    classifier.run("the cat sat")
    found = classifier.attribute("class:1", method="gradient_x_input")
    inputs = first_sequence(classifier.trace)
    expected = de.attribute(
        classifier.task, inputs, de.class_target(1), method="gradient_x_input"
    )
    np.testing.assert_allclose(found.scores, expected.scores, rtol=1e-5, atol=1e-7)
    assert "positive" in found.target
    masked_lm.run("the cat sat")
    masked_lm.intervene(2, "mask")
    found = masked_lm.attribute("original_token", method="gradient_x_input", position=2)
    cat = masked_lm.tokenizer.token_to_id("cat")
    expected = de.attribute(
        masked_lm.task,
        first_sequence(masked_lm.trace),
        de.token_target(2, cat),
        method="gradient_x_input",
    )
    np.testing.assert_allclose(found.scores, expected.scores, rtol=1e-5, atol=1e-7)
    masked_lm.restore()


@pytest.mark.parametrize(
    "target, kwargs, message",
    [
        (
            "class:1",
            {},
            "target='class:1': needs a text classifier head, and "
            "this build has a backbone only",
        ),
        ("original_token", {"position": 1}, "needs a masked-LM head"),
        (de.class_target(0), {}, "needs a task head"),
    ],
)
def test_a_task_target_on_a_backbone_only_build_names_the_argument(
    target, kwargs, message
):
    session = Session()
    session.build(BuildRequest(str(PRESET)))
    session.run("the cat sat")
    assert session.task is None and session.head_text is None
    assert session.task_targets == () and session.classes is None
    with pytest.raises(ValueError, match="target=") as error:
        session.attribute(target, **kwargs)
    assert message in str(error.value)


@pytest.mark.parametrize(
    "target, kwargs, message",
    [
        ("class:2", {}, "target='class:2': no such class; allowed: 'class:0' to"),
        ("class:x", {}, "no such class"),
        ("original_token", {}, "position=None: the 'original_token' target needs"),
        ("original_token", {"position": 9}, "position=9: allowed: 0..4"),
    ],
)
def test_bad_task_targets_name_the_argument(
    classifier, masked_lm, target, kwargs, message
):
    session = masked_lm if target == "original_token" else classifier
    session.run("the cat sat")
    with pytest.raises(ValueError, match="=") as error:
        session.attribute(target, **kwargs)
    assert message in str(error.value)
    with pytest.raises(
        ValueError,
        match="needs a masked-LM head, and this build has a text classifier head",
    ):
        classifier.attribute("original_token", position=1)


def test_a_base_model_kept_as_a_then_a_tuned_classifier_is_b(presets):
    session = Session()
    session.build(BuildRequest(str(PRESET)))
    session.run("the cat sat")
    session.keep_as_a()
    assert session.kept_classes is None
    session.build(BuildRequest(str(presets["classifier"])))
    session.run("the cat sat")
    comparison = session.comparison()
    assert comparison.b is session.trace and comparison.problem is None
    a, b = session.compared_classes
    assert a is None and b is session.classes
    session.keep_as_a()  # a classifier as A, another one as B: both shown
    session.build(BuildRequest(str(presets["tuned"])))
    assert session.compared_classes is None  # no B yet
    session.run("the cat sat")
    a, b = session.compared_classes
    assert a.class_names == b.class_names == NAMES
    assert not np.allclose(a.probabilities, b.probabilities)  # other weights
    session.build(BuildRequest(str(PRESET)))  # a backbone again: no head left
    assert session.task is None and session.classes is None


def test_transformers_checkpoints_build_the_head_their_architectures_name(tmp_path):
    for name, kind in (
        ("distilbert_classifier", "classifier"),
        ("bert_masked_lm", "masked_lm"),
    ):
        random_transformers_task(name).save_pretrained(tmp_path / name)
        assert held_head(tmp_path / name) == kind
    assert held_head(PRESET) is None  # a keras-hub backbone-only preset
    # A task.json without task.weights.h5: no trained head (keras-hub makes a
    # random one), so a backbone.
    headless = write_task_preset(tmp_path / "headless", "classifier", 1)
    (headless / "task.weights.h5").unlink()
    assert held_head(headless) is None
    session = Session()
    session.build(BuildRequest(str(tmp_path / "distilbert_classifier")))
    assert session.head_text == "text classifier head: 3 classes (neg, neutral, pos)"
    session.run([2, 5, 7, 3])  # no vocabulary in the checkpoint: ids
    assert session.classes.probabilities.shape == (1, 3)
    session.build(BuildRequest(str(tmp_path / "bert_masked_lm")))
    assert isinstance(session.task, de.DistilBertMaskedLM)
