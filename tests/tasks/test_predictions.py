"""predict_masked, classify and layer_predictions (torch), and their bad inputs."""

import numpy as np
import pytest
from keras import ops

import distil_explorer as de
from tests.factories import TINY_TASK_BACKBONE, randomized
from tests.tasks.task_checks import MASK_POSITIONS, PADDING_MASK, TOKEN_IDS

BATCH = {"token_ids": TOKEN_IDS, "padding_mask": PADDING_MASK}


@pytest.fixture(scope="module")
def masked_lm():
    backbone = de.DistilBertBackbone(**TINY_TASK_BACKBONE)
    return randomized(de.DistilBertMaskedLM(backbone))


@pytest.fixture(scope="module")
def classifier(masked_lm):
    model = de.DistilBertTextClassifier(
        masked_lm.backbone, num_classes=3, class_names=("a", "b", "c")
    )
    for layer in (model.pooled_dense, model.output_dense):
        randomized(layer, seed=1)
    return model


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_predict_masked_is_the_models_own_output(masked_lm):
    found = de.predict_masked(
        masked_lm, {**BATCH, "mask_positions": MASK_POSITIONS}, top_k=4
    )
    logits = ops.convert_to_numpy(
        masked_lm({**BATCH, "mask_positions": MASK_POSITIONS})
    )
    probabilities = _softmax(logits.reshape(4, -1))
    want = np.argsort(-probabilities, -1)[:, :4]
    np.testing.assert_array_equal(found.top_ids, want)
    np.testing.assert_allclose(
        found.probabilities, np.take_along_axis(probabilities, want, -1), atol=1e-6
    )
    assert found.rows.tolist() == [0, 0, 1, 1]
    assert found.positions.tolist() == MASK_POSITIONS.reshape(-1).tolist()


def test_predict_masked_finds_mask_tokens_with_a_tokenizer(masked_lm):
    class Vocabulary:  # what predict_masked asks of a tokenizer
        def token_to_id(self, token):
            return {"[MASK]": 9}[token]

        def id_to_token(self, i):
            return f"t{i}"

    found = de.predict_masked(masked_lm, BATCH, top_k=2, tokenizer=Vocabulary())
    assert found.rows.tolist() == [0] and found.positions.tolist() == [3]
    assert found.top(0)[0][0] == f"t{found.top_ids[0, 0]}"


def test_layer_predictions_last_layer_equals_predict_masked(masked_lm):
    trace = de.capture(masked_lm.backbone, BATCH)
    lens = de.layer_predictions(masked_lm, trace, top_k=5)
    found = de.predict_masked(masked_lm, BATCH, top_k=5, positions=[1, 2, 3])
    rows, cols = found.rows, found.positions
    np.testing.assert_array_equal(lens.top_ids[-1, rows, cols], found.top_ids)
    np.testing.assert_allclose(
        lens.probabilities[-1, rows, cols], found.probabilities, rtol=1e-5, atol=1e-7
    )


def test_layer_predictions_is_the_head_on_every_layer(masked_lm):
    trace = de.capture(masked_lm.backbone, BATCH)
    original = TOKEN_IDS.copy()
    original[0, 3] = 4  # as if position 3 had been masked out
    lens = de.layer_predictions(masked_lm, trace, top_k=3, original_ids=original)
    real = PADDING_MASK.astype(bool)
    assert lens.top_ids.shape == (3, 2, 6, 3)
    for layer in range(3):
        logits = ops.convert_to_numpy(
            masked_lm.logits_from_hidden(trace.hidden_states[layer])
        )
        probabilities = _softmax(logits)
        top = np.argsort(-probabilities, -1)[..., :3]
        np.testing.assert_array_equal(lens.top_ids[layer][real], top[real])
        actual = np.take_along_axis(probabilities, original[..., None], -1)[..., 0]
        np.testing.assert_allclose(
            lens.actual_probability[layer][real], actual[real], rtol=1e-5
        )
        rank = (probabilities > actual[..., None]).sum(-1)
        np.testing.assert_array_equal(lens.actual_rank[layer][real], rank[real])
    assert (lens.top_ids[:, ~real] == -1).all()
    assert (lens.actual_rank[:, ~real] == -1).all()


def test_layer_predictions_names_the_top_and_actual_tokens(masked_lm):
    class Vocabulary:
        def id_to_token(self, i):
            return f"t{i}"

    trace = de.capture(masked_lm.backbone, BATCH)
    original = TOKEN_IDS.copy()
    original[0, 3] = 4
    lens = de.layer_predictions(
        masked_lm, trace, top_k=2, original_ids=original, tokenizer=Vocabulary()
    )
    assert lens.actual_tokens[0][3] == "t4"
    assert lens.actual_tokens[1] == tuple(f"t{i}" for i in original[1])
    assert lens.top_tokens[2][1][0] == tuple(f"t{i}" for i in lens.top_ids[2, 1, 0])
    assert lens.top_tokens[0][1][-1] == ("", "")  # padding


def test_classify_gives_softmax_with_names(classifier):
    found = de.classify(classifier, BATCH)
    logits = ops.convert_to_numpy(classifier(BATCH))
    np.testing.assert_allclose(found.logits, logits, atol=1e-6)
    np.testing.assert_allclose(found.probabilities, _softmax(logits), atol=1e-6)
    assert found.class_names == ("a", "b", "c")
    assert found.top(0)[0][0] == "abc"[int(np.argmax(logits[0]))]


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda m: de.predict_masked(m, BATCH), "no mask_positions"),
        (lambda m: de.predict_masked(m, BATCH, positions=[5]), "positions=5"),
        (lambda m: de.predict_masked(m, BATCH, positions=[-1]), "positions=-1"),
        (lambda m: de.predict_masked(m, BATCH, positions=[]), "positions=[]"),
        (
            lambda m: de.predict_masked(m, BATCH, positions=[[1], [1], [1]]),
            "positions shape=(3, 1)",
        ),
        (lambda m: de.predict_masked(m, BATCH, top_k=0, positions=[1]), "top_k=0"),
        (lambda m: de.predict_masked(m, BATCH, top_k=31, positions=[1]), "top_k=31"),
        (lambda m: de.layer_predictions(m, "trace"), "trace=str"),
        (lambda m: de.classify(m, BATCH), "model=DistilBertMaskedLM"),
        (lambda m: de.class_target(-1), "k=-1"),
        (lambda m: de.token_target(1, -3), "token_id=-3"),
    ],
)
def test_bad_inputs_name_the_argument(masked_lm, call, words):
    with pytest.raises(ValueError, match="allowed") as error:
        call(masked_lm)
    assert words in str(error.value)


def test_no_mask_token_in_text_is_an_error(masked_lm):
    class Vocabulary:
        def token_to_id(self, token):
            return 29

    with pytest.raises(ValueError, match="no \\[MASK\\] token"):
        de.predict_masked(masked_lm, BATCH, tokenizer=Vocabulary())


def test_targets_out_of_range_for_the_model(masked_lm, classifier):
    with pytest.raises(ValueError, match="k=3: out of range"):
        de.attribute(classifier, BATCH, de.class_target(3))
    with pytest.raises(ValueError, match="token_id=30: out of range"):
        de.attribute(masked_lm, BATCH, de.token_target(1, 30))
    with pytest.raises(ValueError, match="position=6: out of range"):
        de.attribute(masked_lm, BATCH, de.token_target(6, 1))
    with pytest.raises(ValueError, match="needs a DistilBertTextClassifier"):
        de.attribute(masked_lm.backbone, BATCH, de.class_target(0))


def test_bound_task_targets_work_in_tools_that_take_a_backbone(classifier):
    # head_importance takes a backbone; a class target bound to the
    # classifier reads the classifier's head there.
    target = de.class_target(2).prepared(classifier)
    assert target.prepared(classifier.backbone) is target
    ablation = de.head_importance(
        classifier.backbone, BATCH, target, method="ablation", progress=False
    )
    logits = ops.convert_to_numpy(classifier(BATCH))[:, 2]
    assert ablation.shape == (2, 2)
    assert np.abs(ablation).max() > 1e-4
    # Removing nothing changes nothing: the target is the classifier's logit.
    np.testing.assert_allclose(
        ops.convert_to_numpy(target(classifier.backbone(BATCH))), logits, atol=1e-6
    )
    with pytest.raises(ValueError, match="needs a DistilBertTextClassifier"):
        target.prepared(
            de.DistilBertBackbone.from_config(classifier.backbone.get_config())
        )


def test_the_numpy_product_reads_like_the_backend_product(masked_lm, monkeypatch):
    from distil_explorer.tasks import readout

    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(9, 8)).astype("float32")
    actual = rng.integers(0, 30, 9)
    assert readout._host_table(masked_lm.masked_lm_head) is not None
    fast = readout.head_summary(masked_lm, vectors, 4, actual)
    monkeypatch.setattr(readout, "_host_table", lambda head: None)
    slow = readout.head_summary(masked_lm, vectors, 4, actual)
    np.testing.assert_array_equal(fast[0], slow[0])
    np.testing.assert_array_equal(fast[2], slow[2])
    for a, b in ((fast[1], slow[1]), (fast[3], slow[3])):
        np.testing.assert_allclose(a, b, rtol=1e-5)
    logits = ops.convert_to_numpy(masked_lm.logits_from_hidden(vectors))
    probabilities = _softmax(logits.astype(np.float64))
    mine = probabilities[np.arange(9), actual]
    np.testing.assert_allclose(fast[3], mine, rtol=1e-5)
    np.testing.assert_array_equal(fast[2], (probabilities > mine[:, None]).sum(-1))


def test_a_quantized_head_is_read_in_the_backend():
    from distil_explorer.tasks import readout

    model = randomized(
        de.DistilBertMaskedLM(de.DistilBertBackbone(**TINY_TASK_BACKBONE)), seed=4
    )
    model.quantize("int8")
    assert readout._host_table(model.masked_lm_head) is None
    found = de.predict_masked(model, {**BATCH, "mask_positions": MASK_POSITIONS})
    logits = ops.convert_to_numpy(model({**BATCH, "mask_positions": MASK_POSITIONS}))
    want = np.argsort(-logits.reshape(4, -1), -1, kind="stable")[:, :10]
    np.testing.assert_array_equal(found.top_ids[:, :3], want[:, :3])


@pytest.mark.parametrize(
    ("shape", "k"), [((6, 1000), 5), ((3, 300), 1), ((4, 257), 3), ((2, 30), 30)]
)
def test_top_k_equals_a_full_sort(shape, k):
    from distil_explorer.tasks.readout import top_k

    logits = np.random.default_rng(k).normal(size=shape).astype("float32")
    logits[0, -1] = logits.max() + 1  # the short last block holds a row's maximum
    values, ids = top_k(logits, k)
    want = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(ids, want)
    np.testing.assert_array_equal(values, np.take_along_axis(logits, want, 1))
    tied = top_k(np.array([[0.5, 2.0, 1.0, 2.0]], "float32"), 3)[1]
    assert tied.tolist() == [[1, 3, 2]]  # equal values: lower id first


def test_the_readout_in_threads_equals_one_thread(monkeypatch):
    from distil_explorer.tasks import readout

    rng = np.random.default_rng(5)
    logits = rng.normal(size=(101, 700)).astype("float32")
    actual = rng.integers(0, 700, 101)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    assert readout._threads() == 3
    threaded = readout._read_rows(logits.copy(), 4, actual)
    serial = readout._read(logits.copy(), 4, actual)
    for a, b in zip(threaded, serial, strict=True):
        np.testing.assert_array_equal(a, b)
    assert [len(a) for a in threaded] == [101] * 4
