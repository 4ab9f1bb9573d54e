"""Task-model checks that run on any backend: in-process on torch, and as
`python -m tests.tasks.task_checks DIR` on jax (one backend per process).

DIR holds tiny transformers checkpoints (`tests.factories.TASK_CHECKPOINTS`
names, written by `save_pretrained`); the results print as one JSON line.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

TOKEN_IDS = np.array([[1, 5, 7, 9, 2, 0], [1, 3, 4, 2, 0, 0]], np.int32)
PADDING_MASK = np.array([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 0, 0]], np.int32)
MASK_POSITIONS = np.array([[1, 3], [1, 2]], np.int32)


def inputs(masked: bool) -> dict:
    batch = {"token_ids": TOKEN_IDS, "padding_mask": PADDING_MASK}
    return {**batch, "mask_positions": MASK_POSITIONS} if masked else batch


def _numpy(x) -> np.ndarray:
    import keras

    return np.asarray(keras.ops.convert_to_numpy(x), np.float32)


def load(directory: Path, name: str):
    import distil_explorer as de

    cls = de.DistilBertMaskedLM if "masked_lm" in name else de.DistilBertTextClassifier
    return cls.from_preset(directory / name)


def logits(directory: Path) -> dict[str, list]:
    """Our logits for every checkpoint in `directory`."""
    out = {}
    for path in sorted(p for p in directory.iterdir() if p.is_dir()):
        model = load(directory, path.name)
        out[path.name] = _numpy(model(inputs("masked_lm" in path.name))).tolist()
    return out


def _save_load(model, x, folder: Path) -> dict:
    import keras

    path = folder / f"{model.name}_{len(model.quantization_modes)}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects
    return {
        "class": type(loaded).__name__,
        "diff": float(np.abs(_numpy(loaded(x)) - _numpy(model(x))).max()),
        "modes": list(loaded.quantization_modes),
        "class_names": list(getattr(loaded, "class_names", None) or []),
        "epsilon": getattr(loaded, "layer_norm_epsilon", None),
    }


def battery(directory: Path) -> dict:
    """Round trips, .keras files, fit, predict and int8 for both task models."""
    import keras

    results = {"backend": keras.backend.backend()}
    with tempfile.TemporaryDirectory() as scratch:
        for name in ("distilbert_masked_lm", "bert_classifier"):
            model = load(directory, name)
            masked = "masked_lm" in name
            x = inputs(masked)
            before = _numpy(model(x))
            again = type(model).from_config(model.get_config())
            again.set_weights(model.get_weights())
            found = {"config_diff": float(np.abs(_numpy(again(x)) - before).max())}
            found["keras_file"] = _save_load(model, x, Path(scratch))
            found["predict_shape"] = list(model.predict(x, verbose=0).shape)
            labels = TOKEN_IDS[:, :2] if masked else np.array([0, 1])
            model.compile(
                optimizer=keras.optimizers.SGD(0.1),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            )
            history = model.fit(x, labels, epochs=2, batch_size=2, verbose=0)
            found["losses"] = [float(v) for v in history.history["loss"]]
            trained = _numpy(model(x))
            found["fit_changed"] = float(np.abs(trained - before).max())
            model.quantize("int8")
            found["int8_drift"] = float(np.abs(_numpy(model(x)) - trained).max())
            found["int8_file"] = _save_load(model, x, Path(scratch))
            results[name] = found
    return results


def attributions(directory: Path) -> dict:
    """Integrated gradients of both task targets: values and completeness."""
    import distil_explorer as de

    out = {}
    pairs = (
        ("bert_classifier", de.class_target(1)),
        ("distilbert_classifier", de.class_target(2, probability=True)),
        ("distilbert_masked_lm", de.token_target(3, 9)),
    )
    for name, target in pairs:
        model = load(directory, name)
        found = de.attribute(model, inputs(False), target, steps=64)
        out[name] = {
            "scores": found.scores.tolist(),
            "target_value": found.target_value.tolist(),
            "delta": found.delta.tolist(),
            "label": found.target,
        }
    return out


def lens(directory: Path) -> dict:
    """layer_predictions against predict_masked and the head by hand."""
    import keras

    import distil_explorer as de

    model = load(directory, "distilbert_masked_lm")
    trace = de.capture(model.backbone, inputs(False))
    found = de.layer_predictions(model, trace, top_k=4)
    own = de.predict_masked(model, inputs(True), top_k=4)
    last = (-1, own.rows, own.positions)
    by_hand = keras.ops.softmax(model.logits_from_hidden(trace.hidden_states[1]))
    by_hand = np.sort(_numpy(by_hand), -1)[..., ::-1][..., :4]
    real = PADDING_MASK.astype(bool)
    return {
        "ids_equal": bool((found.top_ids[last] == own.top_ids).all()),
        "probability_diff": float(
            np.abs(found.probabilities[last] - own.probabilities).max()
        ),
        "layer_1_diff": float(
            np.abs(found.probabilities[1][real] - by_hand[real]).max()
        ),
    }


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    print(
        json.dumps(
            {
                "logits": logits(folder),
                "battery": battery(folder),
                "attributions": attributions(folder),
                "lens": lens(folder),
            }
        )
    )
