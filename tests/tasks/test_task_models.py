"""Task models against transformers, and the Keras battery, on torch and jax.

Tiny random DistilBertForMaskedLM, DistilBertForSequenceClassification,
BertForMaskedLM and BertForSequenceClassification are saved with
`save_pretrained`; our `from_preset` loads each, here on torch and in a jax
subprocess (`tests/tasks/task_checks.py`), and must give their logits.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from distil_explorer.runtime.backends import available_backends, worker_environment
from tests.factories import TASK_CHECKPOINTS, random_transformers_task
from tests.tasks import task_checks

ROOT = Path(__file__).parents[2]
BACKENDS = ["torch", "jax"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """(directory of checkpoints, their logits from transformers)."""
    torch = pytest.importorskip("torch")
    directory = tmp_path_factory.mktemp("checkpoints")
    expected = {"full": {}}
    for name in TASK_CHECKPOINTS:
        model = random_transformers_task(name)
        model.save_pretrained(directory / name)
        with torch.no_grad():
            out = model(
                input_ids=torch.tensor(task_checks.TOKEN_IDS, dtype=torch.long),
                attention_mask=torch.tensor(task_checks.PADDING_MASK),
            ).logits.numpy()
        expected["full"][name] = out
        if "masked_lm" in name:
            out = np.take_along_axis(out, task_checks.MASK_POSITIONS[..., None], 1)
        expected[name] = out
    return directory, expected


@pytest.fixture(scope="module", params=BACKENDS)
def results(request, checkpoints):
    backend = request.param
    if backend not in available_backends():
        pytest.skip(f"backend {backend!r} is not installed")
    directory, _ = checkpoints
    if backend == os.environ.get("KERAS_BACKEND", "torch"):
        found = {
            "logits": task_checks.logits(directory),
            "battery": task_checks.battery(directory),
            "attributions": task_checks.attributions(directory),
            "lens": task_checks.lens(directory),
        }
    else:
        done = subprocess.run(
            [sys.executable, "-m", "tests.tasks.task_checks", str(directory)],
            cwd=ROOT,
            env=worker_environment(backend),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["battery"]["backend"] == backend
    return found


@pytest.mark.parametrize("name", sorted(TASK_CHECKPOINTS))
def test_logits_match_transformers(results, checkpoints, name):
    _, expected = checkpoints
    ours = np.asarray(results["logits"][name], np.float32)
    assert ours.shape == expected[name].shape
    np.testing.assert_allclose(ours, expected[name], atol=1e-5, rtol=1e-5)


def test_config_round_trip_and_keras_files(results):
    for name, cls, names in (
        ("distilbert_masked_lm", "DistilBertMaskedLM", []),
        ("bert_classifier", "DistilBertTextClassifier", ["LABEL_0", "LABEL_1"]),
    ):
        found = results["battery"][name]
        assert found["config_diff"] == 0.0
        assert found["keras_file"]["class"] == cls
        assert found["keras_file"]["diff"] == 0.0
        assert found["keras_file"]["class_names"] == names
    # Hugging Face's head epsilon travels with the model.
    assert results["battery"]["distilbert_masked_lm"]["keras_file"]["epsilon"] == 1e-12


def test_fit_and_predict(results):
    masked = results["battery"]["distilbert_masked_lm"]
    classifier = results["battery"]["bert_classifier"]
    assert masked["predict_shape"] == [2, 2, 30]
    assert classifier["predict_shape"] == [2, 2]
    for found in (masked, classifier):
        # Dropout makes two epochs' losses noisy; the weights must move.
        assert all(np.isfinite(found["losses"]))
        assert found["fit_changed"] > 1e-4


def test_int8_quantized_models_save_and_load_quantized(results):
    for name in ("distilbert_masked_lm", "bert_classifier"):
        found = results["battery"][name]
        assert 0 < found["int8_drift"] < 0.5
        assert found["int8_file"]["modes"] == ["int8"]
        assert found["int8_file"]["diff"] == 0.0


def test_task_targets_attribute_completely(results):
    for name, label in (
        ("bert_classifier", "LABEL_1 logit"),
        ("distilbert_classifier", "pos probability"),
        ("distilbert_masked_lm", "log p(token 9 at 3)"),
    ):
        found = results["attributions"][name]
        assert found["label"] == label
        assert np.abs(found["delta"]).max() < 1e-3 * (
            1 + np.abs(found["target_value"]).max()
        )
        assert np.abs(found["scores"]).max() > 1e-4


def test_task_target_values_are_transformers_numbers(results, checkpoints):
    # Each backend's target value is the oracle's: class 1's logit, and the
    # log-softmax of the masked-LM logits at position 3 for token 9.
    _, expected = checkpoints
    found = results["attributions"]
    logits = expected["full"]["bert_classifier"][:, 1]
    np.testing.assert_allclose(
        found["bert_classifier"]["target_value"], logits, atol=1e-5
    )
    scores = expected["full"]["distilbert_masked_lm"][:, 3]
    log_p = (
        scores
        - np.log(np.exp(scores - scores.max(-1, keepdims=True)).sum(-1))[:, None]
        - scores.max(-1, keepdims=True)
    )
    np.testing.assert_allclose(
        found["distilbert_masked_lm"]["target_value"], log_p[:, 9], atol=1e-5
    )


def test_layer_lens_last_layer_is_predict_masked(results):
    found = results["lens"]
    assert found["ids_equal"]
    assert found["probability_diff"] < 1e-5
    assert found["layer_1_diff"] < 1e-6
