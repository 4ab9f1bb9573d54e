"""The Session's causal part on the tiny keras-hub preset: patching, head
importance and ablation of the input on screen, each tied to its Trace."""

import numpy as np
import pytest

from distil_explorer import capture
from distil_explorer.session import BuildRequest, Session
from tests.conftest import TINY
from tests.views.conftest import PRESET


@pytest.fixture(scope="module")
def session():
    session = Session()
    session.build(BuildRequest(str(PRESET)))
    yield session
    session.close()


def test_patch_uses_the_trace_on_screen_and_belongs_to_it(session):
    trace = session.run("the cat sat")
    found = session.patch("the dog sat")
    assert found.clean_tokens == trace.tokens[0]
    assert found.corrupted_tokens[2] == "dog"
    # One word differs: putting it back at the embeddings restores the target.
    np.testing.assert_allclose(found.effect[0], [0, 0, 1, 0, 0], atol=1e-5)
    assert session.patching is found
    session.run("the cat sat")  # a new Trace: the old patching is not its
    assert session.patching is None


def test_head_importance_of_the_trace_on_screen(session):
    session.run("the cat sat")
    found = session.head_importance(method="ablation")
    assert found.values.shape == (2, 2) and found.texts == 1
    assert found.method == "ablation" and found.target == "[CLS] norm"
    assert session.importance is found
    # Of other texts: returned, not tied to the Trace on screen.
    other = session.head_importance(["the dog sat", "a cat ran"])
    assert other.texts == 2 and session.importance is found


def test_ablate_reruns_the_input_and_restore_brings_every_head_back(session):
    plain = session.run("the cat sat")
    importance = session.head_importance(method="gradient")
    ablated = session.ablate([(1, 0), (0, 1)])
    assert ablated.ablated_heads == ((0, 1), (1, 0))
    assert ablated.tokens == plain.tokens and session.trace is ablated
    expected = capture(
        session.backbone,
        "the cat sat",
        tokenizer=session.tokenizer,
        ablate=[(0, 1), (1, 0)],
    )
    np.testing.assert_allclose(ablated.hidden_states, expected.hidden_states, atol=1e-6)
    assert not np.allclose(ablated.hidden_states[-1], plain.hidden_states[-1])
    # The same input, importance measured with every head on: it stays.
    assert session.importance is importance
    # Patching runs the model as the Trace ran: its heads off in every run.
    found = session.patch("the dog sat")
    assert found.ablated_heads == ((0, 1), (1, 0))
    cls = np.linalg.norm(ablated.hidden_states[-1][0, 0])
    assert found.clean_value == pytest.approx(cls, rel=1e-5)
    np.testing.assert_allclose(found.effect[0], [0, 0, 1, 0, 0], atol=1e-5)
    restored = session.restore_heads()
    assert restored.ablated_heads == () and session.patching is None  # other model
    assert session.importance is importance
    np.testing.assert_array_equal(restored.hidden_states, plain.hidden_states)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.patch("the cat sat on"), "corrupted: 6 tokens"),
        (lambda s: s.patch(""), "corrupted=''"),
        (lambda s: s.head_importance(method="magic"), "method='magic'"),
        (lambda s: s.ablate([(2, 0)]), "heads layer=2"),
        (lambda s: s.ablate([(0, 5)]), "heads head=5"),
        (lambda s: s.patch("the dog sat", target="nope"), "target='nope'"),
        (lambda s: s.patch("the dog sat", "similarity", other_text=" "), "other_text"),
    ],
)
def test_bad_causal_calls_name_the_argument(session, call, message):
    session.run("the cat sat")
    with pytest.raises(ValueError, match=message):
        call(session)


def test_without_a_tokenizer_the_corrupted_input_is_typed_ids():
    session = Session()
    session.build(BuildRequest(config={**TINY, "dtype": "float32"}))
    session.run([2, 10, 11, 3])
    # (A fresh model's LayerNorms are the identity: its [CLS] norm is the same
    # sqrt(D) for every input, so the target here is one coordinate.)
    found = session.patch("2 12 11 3", target=lambda hidden: hidden[:, 0, 0])
    assert found.corrupted_token_ids.tolist() == [2, 12, 11, 3]
    with pytest.raises(ValueError, match="corrupted: text needs a tokenizer"):
        session.patch("the dog sat", target=lambda hidden: hidden[:, 0, 0])


def test_nothing_causal_before_a_run():
    session = Session()
    with pytest.raises(ValueError, match="no backbone yet"):
        session.patch("the dog sat")
    session.build(BuildRequest(str(PRESET)))
    for call in (lambda: session.head_importance(), lambda: session.ablate([])):
        with pytest.raises(ValueError, match="run some text first"):
            call()
    assert session.patching is None and session.importance is None


def test_patch_activations_ablate_none_is_the_plain_model_and_names_bad_heads(
    session,
):
    from distil_explorer import cls_norm_target, patch_activations

    args = (session.backbone, "the cat sat", "the dog sat", cls_norm_target())
    plain = patch_activations(*args, tokenizer=session.tokenizer)
    empty = patch_activations(*args, tokenizer=session.tokenizer, ablate=[])
    np.testing.assert_array_equal(plain.effect, empty.effect)
    assert plain.ablated_heads == () and plain.clean_value == empty.clean_value
    with pytest.raises(ValueError, match="ablate layer=9"):
        patch_activations(*args, tokenizer=session.tokenizer, ablate=[(9, 0)])


def test_a_task_models_class_target_drives_patching_and_importance(tmp_path):
    # The Attribution tab's task targets (a classifier's "class:<k>") work here
    # too, bound to the task model whose backbone is patched and gated.
    from tests.factories import write_task_preset

    preset = write_task_preset(tmp_path / "classifier", "classifier", 3)
    session = Session()
    session.build(BuildRequest(str(preset)))
    session.run("the cat sat")
    found = session.patch("the dog sat", "class:1")
    assert "logit" in found.target
    logits = session.task.logits_from_hidden(session.trace.hidden_states[-1])
    assert found.clean_value == pytest.approx(float(logits[0, 1]), rel=1e-4)
    importance = session.head_importance(target="class:1", method="ablation")
    assert importance.values.shape == (2, 2) and "logit" in importance.target
    session.close()
