"""Task presets: keras-hub's layout (checked by keras-hub itself), round trips,
class names, and presets without the head asked for."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from keras import ops

import distil_explorer as de
from distil_explorer.errors import MissingHeadError
from distil_explorer.runtime.backends import worker_environment
from tests.factories import TINY_TASK_BACKBONE, random_transformers_task, randomized
from tests.tasks.task_checks import MASK_POSITIONS, PADDING_MASK, TOKEN_IDS

ROOT = Path(__file__).parents[2]
BACKBONE_ONLY = ROOT / "tests" / "fixtures" / "keras_hub_tiny" / "preset"
BATCH = {"token_ids": TOKEN_IDS, "padding_mask": PADDING_MASK}
MASKED = {**BATCH, "mask_positions": MASK_POSITIONS}

_KERAS_HUB_SCRIPT = """
import json, sys
import numpy as np
import keras, keras_hub
folder = sys.argv[1]
batch = dict(np.load(folder + "/inputs.npz"))
masked = keras_hub.models.DistilBertMaskedLM.from_preset(folder + "/masked_lm")
classifier = keras_hub.models.DistilBertTextClassifier.from_preset(
    folder + "/classifier")
print(json.dumps({
    "masked_lm": np.asarray(masked.predict(batch, verbose=0)).tolist(),
    "classifier": np.asarray(classifier.predict(
        {k: batch[k] for k in ("token_ids", "padding_mask")}, verbose=0)).tolist(),
    "classes": [type(masked).__name__, type(classifier).__name__],
}))
"""


@pytest.fixture(scope="module")
def models():
    backbone = de.DistilBertBackbone(**TINY_TASK_BACKBONE)
    masked_lm = randomized(de.DistilBertMaskedLM(backbone))
    classifier = de.DistilBertTextClassifier(
        backbone, num_classes=3, hidden_dim=6, class_names=("no", "maybe", "yes")
    )
    randomized(classifier, seed=1)
    return masked_lm, classifier


def _out(model, batch):
    return ops.convert_to_numpy(model(batch))


def test_task_presets_round_trip_with_class_names(models, tmp_path):
    masked_lm, classifier = models
    masked_lm.save_to_preset(tmp_path / "masked_lm")
    classifier.save_to_preset(tmp_path / "classifier")
    for name in ("task.json", "task.weights.h5", "config.json", "model.weights.h5"):
        assert (tmp_path / "classifier" / name).is_file()
    again = de.DistilBertMaskedLM.from_preset(tmp_path / "masked_lm")
    np.testing.assert_array_equal(_out(again, MASKED), _out(masked_lm, MASKED))
    loaded = de.DistilBertTextClassifier.from_preset(tmp_path / "classifier")
    np.testing.assert_array_equal(_out(loaded, BATCH), _out(classifier, BATCH))
    assert loaded.class_names == ("no", "maybe", "yes")
    assert loaded.hidden_dim == 6


def _keras_hub(script: str, folder) -> subprocess.CompletedProcess:
    """Run `script` with keras-hub in a torch worker's environment, on `folder`."""
    done = subprocess.run(
        [sys.executable, "-c", script, str(folder)],
        cwd=ROOT,
        env=worker_environment("torch"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_keras_hub_loads_our_task_presets_with_the_same_logits(models, tmp_path):
    if importlib.util.find_spec("keras_hub") is None:
        pytest.skip("keras-hub is not installed (pip install --no-deps keras-hub)")
    masked_lm, classifier = models
    masked_lm.save_to_preset(tmp_path / "masked_lm")
    classifier.save_to_preset(tmp_path / "classifier")
    np.savez(tmp_path / "inputs.npz", **MASKED)
    done = _keras_hub(_KERAS_HUB_SCRIPT, tmp_path)
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    assert theirs["classes"] == ["DistilBertMaskedLM", "DistilBertTextClassifier"]
    np.testing.assert_allclose(theirs["masked_lm"], _out(masked_lm, MASKED), atol=1e-5)
    np.testing.assert_allclose(theirs["classifier"], _out(classifier, BATCH), atol=1e-5)


_KERAS_HUB_WRITES = """
import sys
import numpy as np
import keras, keras_hub
folder = sys.argv[1]
batch = dict(np.load(folder + "/inputs.npz"))
backbone = keras_hub.models.DistilBertBackbone(
    vocabulary_size=30, num_layers=2, num_heads=2, hidden_dim=8,
    intermediate_dim=16, max_sequence_length=12)
masked = keras_hub.models.DistilBertMaskedLM(backbone)
classifier = keras_hub.models.DistilBertTextClassifier(
    backbone, num_classes=3, hidden_dim=6, activation="softmax")
rng = np.random.default_rng(0)
for variable in classifier.weights + masked.weights:
    gain = variable.path.endswith("gamma")
    variable.assign(rng.normal(scale=0.5, size=variable.shape) + gain)
masked.save_to_preset(folder + "/masked_lm")
classifier.save_to_preset(folder + "/classifier")
plain = {k: batch[k] for k in ("token_ids", "padding_mask")}
np.savez(folder + "/theirs.npz",
         masked_lm=np.asarray(masked.predict(batch, verbose=0)),
         classifier=np.asarray(classifier.predict(plain, verbose=0)))
"""


def test_we_load_keras_hubs_own_task_presets(tmp_path):
    if importlib.util.find_spec("keras_hub") is None:
        pytest.skip("keras-hub is not installed (pip install --no-deps keras-hub)")
    np.savez(tmp_path / "inputs.npz", **MASKED)
    _keras_hub(_KERAS_HUB_WRITES, tmp_path)
    theirs = np.load(tmp_path / "theirs.npz")
    masked_lm = de.DistilBertMaskedLM.from_preset(tmp_path / "masked_lm")
    assert masked_lm.layer_norm_epsilon == 1e-5
    np.testing.assert_allclose(_out(masked_lm, MASKED), theirs["masked_lm"], atol=1e-5)
    classifier = de.DistilBertTextClassifier.from_preset(tmp_path / "classifier")
    assert classifier.hidden_dim == 6 and classifier.class_names is None
    np.testing.assert_allclose(_out(classifier, BATCH), theirs["classifier"], atol=1e-6)


def test_a_backbone_only_preset_asked_for_a_head(tmp_path):
    with pytest.raises(MissingHeadError, match="backbone-only preset") as error:
        de.DistilBertMaskedLM.from_preset(BACKBONE_ONLY)
    assert "preset=" in str(error.value) and "allowed" in str(error.value)
    with pytest.raises(MissingHeadError, match="num_classes=N"):
        de.DistilBertTextClassifier.from_preset(BACKBONE_ONLY)
    # As in keras-hub: num_classes asks for a new head on the preset's backbone.
    fresh = de.DistilBertTextClassifier.from_preset(BACKBONE_ONLY, num_classes=4)
    backbone = de.DistilBertBackbone.from_preset(BACKBONE_ONLY)
    np.testing.assert_array_equal(
        ops.convert_to_numpy(fresh.backbone.token_embedding.embeddings),
        ops.convert_to_numpy(backbone.token_embedding.embeddings),
    )
    assert fresh.num_classes == 4


def test_a_checkpoint_without_the_head_names_what_it_holds(tmp_path):
    random_transformers_task("bert_classifier").save_pretrained(tmp_path)
    with pytest.raises(MissingHeadError) as error:
        de.DistilBertMaskedLM.from_preset(tmp_path)
    message = str(error.value)
    assert "BertForSequenceClassification" in message
    assert "sequence-classification head" in message
    assert "not a masked-LM head" in message


def test_a_keras_hub_classifier_preset_is_not_a_masked_lm(models, tmp_path):
    models[1].save_to_preset(tmp_path)
    with pytest.raises(MissingHeadError, match="holds a DistilBertTextClassifier"):
        de.DistilBertMaskedLM.from_preset(tmp_path)


def test_presets_keras_hub_cannot_hold_are_refused_or_warned(tmp_path):
    bert = de.DistilBertTextClassifier.from_preset(_saved(tmp_path, "bert_classifier"))
    assert bert.pooled_activation == "tanh"
    with pytest.raises(ValueError, match="pooled_activation='tanh'"):
        bert.save_to_preset(tmp_path / "out")
    masked = de.DistilBertMaskedLM.from_preset(_saved(tmp_path, "distilbert_masked_lm"))
    with pytest.warns(UserWarning, match="layer_norm_epsilon=1e-12"):
        masked.save_to_preset(tmp_path / "masked")


def _saved(folder: Path, name: str) -> Path:
    random_transformers_task(name).save_pretrained(folder / name)
    return folder / name


def test_task_presets_load_from_hf_handles(models, tmp_path, monkeypatch):
    # The hf:// download asks for the task files too (only what our readers
    # open is fetched): a fake snapshot copies exactly what is asked for.
    import fnmatch
    import shutil

    huggingface_hub = pytest.importorskip("huggingface_hub")
    source = tmp_path / "source"
    models[1].save_to_preset(source)

    def fake_snapshot(repo_id, allow_patterns=(), **kwargs):
        target = tmp_path / "snapshot"
        for path in source.rglob("*"):
            name = path.relative_to(source).as_posix()
            if path.is_file() and any(fnmatch.fnmatch(name, p) for p in allow_patterns):
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target / name)
        return str(target)

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", lambda *a, **k: None)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    loaded = de.DistilBertTextClassifier.from_preset("hf://someone/classifier")
    np.testing.assert_array_equal(_out(loaded, BATCH), _out(models[1], BATCH))
    assert loaded.class_names == ("no", "maybe", "yes")
