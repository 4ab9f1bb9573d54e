"""save_to_preset under failure: the old preset intact or the new one complete.

Faults are injected into the write of the weights, the rename of the
directories and the removal of the old copy; a read-only preset (simulated
with os.access, since these tests may run as root) is refused up front.
"""

import errno
import os
import shutil
import warnings

import numpy as np
import pytest

from distil_explorer import DistilBertBackbone
from distil_explorer._internal import atomic_write
from distil_explorer.weights import keras_hub_format
from tests.weights.tiny_files import KERAS_HUB_PRESET, keras_hub_preset, snapshot


@pytest.fixture(scope="module")
def loaded():
    return DistilBertBackbone.from_preset(str(KERAS_HUB_PRESET))


@pytest.fixture(scope="module")
def other():
    import keras

    keras.utils.set_random_seed(3)
    return DistilBertBackbone.from_preset(str(KERAS_HUB_PRESET), load_weights=False)


def _same_weights(a, b) -> bool:
    return all(
        np.array_equal(np.asarray(x.numpy()), np.asarray(y.numpy()))
        for x, y in zip(a.weights, b.weights, strict=True)
    )


def test_relative_paths_resolve(loaded, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    loaded.save_to_preset(".")  # used to fail: '' has an empty name
    assert (tmp_path / "config.json").is_file()
    assert _same_weights(DistilBertBackbone.from_preset("."), loaded)
    loaded.save_to_preset("./again/../again")
    assert (tmp_path / "again" / "model.weights.h5").is_file()


@pytest.mark.parametrize("fault", ["weights", "rename", "rename back"])
def test_failed_save_over_a_preset_keeps_it_byte_for_byte(
    loaded, other, tmp_path, monkeypatch, fault
):
    target = keras_hub_preset(tmp_path / "preset")
    before = snapshot(tmp_path)
    real_rename = os.rename
    renames = []

    def rename(src, dst):
        renames.append(dst)
        if fault == "rename" and len(renames) == 2:  # new copy into place
            raise OSError("rename refused")
        real_rename(src, dst)

    if fault == "weights":

        def broken(*args):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(keras_hub_format, "_write_h5", broken)
    else:
        monkeypatch.setattr(atomic_write.os, "rename", rename)
    if fault == "rename back":  # a failed swap that cannot be undone says where
        calls = []

        def both_fail(src, dst):
            calls.append(dst)
            if len(calls) >= 2:
                raise OSError("rename refused")
            real_rename(src, dst)

        monkeypatch.setattr(atomic_write.os, "rename", both_fail)
        with pytest.raises(OSError, match=r"the old one is intact at .*\.old"):
            other.save_to_preset(target)
        monkeypatch.undo()
        (backup,) = [p for p in tmp_path.iterdir() if p.name.endswith(".old")]
        os.rename(backup, target)
    else:
        with pytest.raises(OSError, match="refused|No space"):
            other.save_to_preset(target)
    assert snapshot(tmp_path) == before
    monkeypatch.undo()
    other.save_to_preset(target)  # the next save works
    assert _same_weights(DistilBertBackbone.from_preset(str(target)), other)
    assert (target / "tokenizer.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["preset"]


def test_old_copy_that_cannot_be_removed_never_blocks_the_next_save(
    loaded, other, tmp_path, monkeypatch
):
    target = keras_hub_preset(tmp_path / "preset")
    real_rmtree = shutil.rmtree

    def rmtree(path, *args, **kwargs):
        if str(path).endswith(".old") and not kwargs.get("ignore_errors"):
            raise PermissionError("Permission denied")
        real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(atomic_write.shutil, "rmtree", rmtree)
    with pytest.warns(RuntimeWarning, match="next save removes it"):
        other.save_to_preset(target)
    assert _same_weights(DistilBertBackbone.from_preset(str(target)), other)
    monkeypatch.undo()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        loaded.save_to_preset(target)  # used to fail: "Directory not empty"
    assert [p.name for p in tmp_path.iterdir()] == ["preset"]
    assert _same_weights(DistilBertBackbone.from_preset(str(target)), loaded)


def test_read_only_preset_is_refused_and_kept(other, tmp_path, monkeypatch):
    target = keras_hub_preset(tmp_path / "preset")
    before = snapshot(tmp_path)
    monkeypatch.setattr(
        atomic_write.os, "access", lambda p, mode: str(p) != str(target)
    )
    with pytest.raises(PermissionError, match="preset is read-only"):
        other.save_to_preset(target)
    assert snapshot(tmp_path) == before
    assert [p.name for p in tmp_path.iterdir()] == ["preset"]


def test_saved_files_have_the_usual_modes(loaded, tmp_path):
    old = os.umask(0o022)
    try:
        loaded.save_to_preset(tmp_path / "p")
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "p").iterdir()}
    assert modes == {
        "config.json": 0o644,
        "metadata.json": 0o644,
        "model.weights.h5": 0o644,
    }
    assert (tmp_path / "p").stat().st_mode & 0o777 == 0o755


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize(
    "fault", ["weights", "config", "fsync", "link"], ids=lambda f: f"{f} write"
)
def test_a_full_disk_names_the_preset_asked_for_not_the_staging_copy(
    loaded, tmp_path, monkeypatch, fault
):
    target = keras_hub_preset(tmp_path / "my preset")
    before = snapshot(tmp_path)
    if fault == "weights":
        monkeypatch.setattr(keras_hub_format, "_write_h5", _disk_full)
    elif fault == "config":  # no room for the temporary config.json
        real_open = os.open

        def open_(path, *args, **kwargs):
            if ".config.json." in str(path):
                _disk_full()
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(atomic_write.os, "open", open_)
    elif fault == "fsync":
        monkeypatch.setattr(atomic_write.os, "fsync", _disk_full)
    else:  # hard links refused, and the copy fills the disk
        monkeypatch.setattr(atomic_write.os, "link", _disk_full)
        monkeypatch.setattr(atomic_write.shutil, "copy2", _disk_full)
    with pytest.raises(OSError) as info:
        loaded.save_to_preset(target)
    message = str(info.value)
    assert info.value.errno == errno.ENOSPC
    assert message.startswith(f"directory={str(target)!r}: could not be written")
    assert "No space left on device" in message
    assert ".new" not in message and ".part" not in message
    written = {"weights": "model.weights.h5", "config": "config.json"}
    if fault in written:
        assert f"writing {written[fault]}" in message
    assert snapshot(tmp_path) == before
