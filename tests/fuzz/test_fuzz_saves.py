"""Failed saves never change a file on disk; completed ones are whole.

Hypothesis picks one step of the atomic write (opening the temporary file,
fsync, the final rename, the directory swap, hard-linking or copying the
old files, removing the old copy) and the call at which it fails, for
Trace.save, the tokenizer's and the backbone's save_to_preset over existing
files. A save that raised leaves every byte under its folder as it was (no
temporary file, no stray folder); a save that returned left a complete new
file or preset; and the next save without faults always works.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from distil_explorer import DistilBertBackbone, DistilBertTokenizer
from distil_explorer._internal import atomic_write
from tests.fuzz.conftest import hand_made_trace, no_hang
from tests.test_tokenizer import TINY_VOCAB
from tests.weights.tiny_files import KERAS_HUB_PRESET, snapshot

WORK = Path(tempfile.mkdtemp(prefix="distil-explorer-fuzz-saves-"))
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
STEPS = {
    "open": (atomic_write.os, "open"),
    "fsync": (atomic_write.os, "fsync"),
    "replace": (atomic_write.os, "replace"),
    "rename": (atomic_write.os, "rename"),
    "link": (atomic_write.os, "link"),
    "copy2": (atomic_write.shutil, "copy2"),
    "copytree": (atomic_write.shutil, "copytree"),
    "rmtree": (atomic_write.shutil, "rmtree"),
}
faults = st.tuples(
    st.sampled_from(sorted(STEPS)),
    st.integers(0, 1),
    st.sampled_from(
        [OSError(28, "No space left on device"), PermissionError(13, "no")]
    ),
)


@contextlib.contextmanager
def failing(step: str, at: int, error: Exception):
    """Make call number `at` of `step` raise `error` (while the block runs)."""
    owner, name = STEPS[step]
    real = getattr(owner, name)
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(args)
        # rmtree(..., ignore_errors=True) is cleanup that may not raise.
        if len(calls) - 1 == at and not kwargs.get("ignore_errors"):
            raise error
        return real(*args, **kwargs)

    with mock.patch.object(owner, name, wrapper):
        yield calls


def _save_under_fault(save, folder: Path, fault) -> bool:
    """Run `save` with `fault`; True if it completed. Checks the failed case."""
    before = snapshot(folder)
    with no_hang(30), warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        try:
            with failing(*fault):
                save()
        except OSError:
            assert snapshot(folder) == before, fault
            event(f"failed at {fault[0]}: unchanged")
            return False
    event("completed")
    return True


def _fresh(name: str) -> Path:
    folder = WORK / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return folder


@given(faults)
def test_trace_save_under_faults(fault):
    folder = _fresh("trace")
    trace = hand_made_trace()
    path = trace.save(folder / "t.npz")
    old = path.read_bytes()
    path.write_bytes(old + b"old")  # so that an unchanged file is recognisable
    if _save_under_fault(lambda: trace.save(path), folder, fault):
        assert path.read_bytes() == old
    assert [p.name for p in folder.iterdir()] == ["t.npz"]


@given(faults, st.booleans())
def test_tokenizer_save_under_faults(fault, lowercase):
    folder = _fresh("tokenizer")
    DistilBertTokenizer(TINY_VOCAB, lowercase=not lowercase).save_to_preset(folder)
    new = DistilBertTokenizer(TINY_VOCAB, lowercase=lowercase)
    if _save_under_fault(
        lambda: new.save_to_preset(folder, overwrite=True), folder, fault
    ):
        assert DistilBertTokenizer.from_directory(folder).lowercase == lowercase
    new.save_to_preset(folder, overwrite=True)  # the next save works
    assert DistilBertTokenizer.from_directory(folder).lowercase == lowercase
    assert not [p for p in folder.rglob("*") if p.name.startswith(".")]


_BACKBONES = {}


def _backbones():
    if not _BACKBONES:
        import keras

        keras.utils.set_random_seed(5)
        _BACKBONES["old"] = DistilBertBackbone.from_preset(str(KERAS_HUB_PRESET))
        _BACKBONES["new"] = DistilBertBackbone.from_preset(
            str(KERAS_HUB_PRESET), load_weights=False
        )
    return _BACKBONES["old"], _BACKBONES["new"]


def _weights(backbone):
    return [np.asarray(v.numpy()) for v in backbone.weights]


@settings(max_examples=15)
@given(faults)
def test_backbone_save_to_preset_under_faults(fault):
    old, new = _backbones()
    folder = _fresh("preset")
    target = folder / "preset"
    shutil.copytree(KERAS_HUB_PRESET, target)
    if _save_under_fault(lambda: new.save_to_preset(target), folder, fault):
        saved = DistilBertBackbone.from_preset(str(target))
        for a, b in zip(_weights(saved), _weights(new), strict=True):
            np.testing.assert_array_equal(a, b)
    else:
        saved = DistilBertBackbone.from_preset(str(target))  # the old one, intact
        for a, b in zip(_weights(saved), _weights(old), strict=True):
            np.testing.assert_array_equal(a, b)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        old.save_to_preset(target)  # the next save works and clears leftovers
    assert [p.name for p in folder.iterdir()] == ["preset"]
    assert (target / "tokenizer.json").is_file()
    assert os.access(target / "config.json", os.R_OK)
