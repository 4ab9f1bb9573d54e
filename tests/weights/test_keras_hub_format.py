"""Oracle: keras-hub 0.32's own DistilBertBackbone, through a committed fixture.

tests/fixtures/make_keras_hub_fixture.py made `keras_hub_tiny/` with keras-hub
(random non-trivial weights) and recorded keras-hub's outputs, so this suite
checks parity without installing keras-hub and TensorFlow.
"""

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from distil_explorer import DistilBertBackbone, capture
from distil_explorer.weights.assign import WeightsMismatchError

FIXTURE = Path(__file__).parents[1] / "fixtures" / "keras_hub_tiny"
PRESET = FIXTURE / "preset"


@pytest.fixture(scope="module")
def expected():
    with np.load(FIXTURE / "expected.npz") as data:
        return dict(data)


@pytest.fixture(scope="module")
def loaded():
    return DistilBertBackbone.from_preset(str(PRESET))


def _inputs(expected):
    return {k: expected[k] for k in ("token_ids", "padding_mask")}


def test_config_comes_from_the_preset(loaded):
    assert (loaded.vocabulary_size, loaded.num_layers, loaded.num_heads) == (64, 2, 2)
    assert (loaded.hidden_dim, loaded.intermediate_dim) == (8, 16)
    assert loaded.max_sequence_length == 32
    assert loaded.count_params() == 1984  # keras-hub's metadata.json


def test_matches_keras_hub_distilbert(loaded, expected):
    inputs = _inputs(expected)
    out = np.asarray(loaded(inputs).detach())
    np.testing.assert_allclose(out, expected["sequence_output"], atol=1e-5, rtol=0)
    trace = capture(loaded, inputs)
    np.testing.assert_allclose(
        trace.hidden_states[0], expected["embedding_output"], atol=1e-5, rtol=0
    )
    for i in range(2):
        np.testing.assert_allclose(
            trace.hidden_states[i + 1], expected[f"layer_{i}_output"], atol=1e-5
        )


def _layout(path: Path) -> dict[str, object]:
    items = {}
    with h5py.File(path) as f:

        def visit(name, obj):
            attrs = dict(obj.attrs)
            items[name] = (getattr(obj, "shape", None), attrs.get("name"))

        f.visititems(visit)
    return items


def test_save_to_preset_writes_keras_hubs_exact_layout(loaded, tmp_path):
    loaded.save_to_preset(tmp_path / "ours")
    assert _layout(tmp_path / "ours" / "model.weights.h5") == _layout(
        PRESET / "model.weights.h5"
    )
    with (
        h5py.File(tmp_path / "ours" / "model.weights.h5") as ours,
        h5py.File(PRESET / "model.weights.h5") as theirs,
    ):

        def same(name, obj):
            if isinstance(obj, h5py.Dataset):
                np.testing.assert_array_equal(ours[name][()], obj[()], err_msg=name)

        theirs.visititems(same)


def test_save_then_load_round_trips(loaded, expected, tmp_path):
    loaded.save_to_preset(tmp_path / "again")
    again = DistilBertBackbone.from_preset(str(tmp_path / "again"))
    inputs = _inputs(expected)
    np.testing.assert_array_equal(
        np.asarray(again(inputs).detach()), np.asarray(loaded(inputs).detach())
    )


def test_save_keeps_tokenizer_files_and_refuses_foreign_dirs(loaded, tmp_path):
    target = tmp_path / "with_tokenizer"
    shutil.copytree(PRESET, target)
    loaded.save_to_preset(target)
    assert (target / "assets" / "tokenizer" / "vocabulary.txt").is_file()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("x")
    with pytest.raises(ValueError, match="exists and is not a preset"):
        loaded.save_to_preset(tmp_path / "notes")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_failed_save_leaves_nothing_behind(loaded, tmp_path, monkeypatch):
    from distil_explorer.weights import keras_hub_format

    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(keras_hub_format, "_write_h5", broken)
    with pytest.raises(OSError, match="disk full"):
        loaded.save_to_preset(tmp_path / "new")
    assert list(tmp_path.iterdir()) == []


def test_load_weights_false_reads_only_the_config(tmp_path):
    target = tmp_path / "config_only"
    target.mkdir()
    shutil.copy(PRESET / "config.json", target)
    model = DistilBertBackbone.from_preset(str(target), load_weights=False)
    assert model.count_params() == 1984


def test_truncated_weights_are_named_and_nothing_is_half_loaded(tmp_path):
    target = tmp_path / "truncated"
    shutil.copytree(PRESET, target)
    data = (target / "model.weights.h5").read_bytes()
    (target / "model.weights.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsMismatchError, match=r"model\.weights\.h5.*truncated"):
        DistilBertBackbone.from_preset(str(target))


def test_missing_weights_file_is_named(tmp_path):
    target = tmp_path / "missing"
    shutil.copytree(PRESET, target)
    (target / "model.weights.h5").unlink()
    with pytest.raises(FileNotFoundError, match=r"model\.weights\.h5"):
        DistilBertBackbone.from_preset(str(target))


def test_shape_mismatch_names_variable_and_shapes(tmp_path):
    with pytest.raises(
        WeightsMismatchError, match=r"token_embedding.*\(64, 8\).*\(65, 8\)"
    ):
        DistilBertBackbone.from_preset(str(PRESET), vocabulary_size=65)


def test_other_architecture_is_refused(tmp_path):
    target = tmp_path / "gemma"
    shutil.copytree(PRESET, target)
    text = (
        (target / "config.json")
        .read_text()
        .replace('"class_name": "DistilBertBackbone"', '"class_name": "GemmaBackbone"')
    )
    (target / "config.json").write_text(text)
    with pytest.raises(ValueError, match="GemmaBackbone.*another architecture"):
        DistilBertBackbone.from_preset(str(target))
