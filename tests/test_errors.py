"""errors.py: every class a user can catch is in docs/api.md, subclassing a builtin."""

import inspect
import pickle
from pathlib import Path

import pytest

from distil_explorer import errors

API_DOCS = (Path(__file__).parents[1] / "docs" / "api.md").read_text()
CLASSES = [
    c
    for _, c in inspect.getmembers(errors, inspect.isclass)
    if c.__module__ == errors.__name__
]


def test_every_error_class_is_in_the_errors_section_of_the_docs():
    section = API_DOCS.split("## Errors", 1)[1].split("\n## ", 1)[0]
    assert CLASSES and all(f"`{c.__name__}`" in section for c in CLASSES)


def test_file_errors_are_value_and_os_errors_and_survive_a_worker_pipe():
    error = errors.TraceFileError("t.npz: bad", path="t.npz", field="meta")
    assert isinstance(error, ValueError) and isinstance(error, OSError)
    again = pickle.loads(pickle.dumps(error))
    assert (type(again), str(again), again.path, again.field) == (
        errors.TraceFileError,
        "t.npz: bad",
        "t.npz",
        "meta",
    )


def test_file_errors_pickle_with_tblibs_reducers_installed():
    # Dask installs tblib's exception reducers process-wide (the corpus
    # engine); they once made every FileFormatError unpicklable afterwards.
    pickling_support = pytest.importorskip("tblib.pickling_support")
    pickling_support.install()
    for error in (
        errors.TraceFileError("t.npz: bad", path="t.npz", field="meta"),
        errors.WeightsFileError("w.h5: truncated", path="w.h5"),
    ):
        again = pickle.loads(pickle.dumps(error))
        assert (type(again), str(again), again.path, again.field) == (
            type(error),
            str(error),
            error.path,
            error.field,
        )


def test_old_import_paths_still_work():
    from distil_explorer.errors import WorkerError
    from distil_explorer.weights.assign import WeightsMismatchError
    from distil_explorer.weights.transformers_format import UnsupportedCheckpointError

    assert WorkerError is errors.WorkerError
    assert WeightsMismatchError is errors.WeightsMismatchError
    assert UnsupportedCheckpointError is errors.UnsupportedCheckpointError


def test_memory_errors_keep_their_numbers_across_dask_and_worker_pipes():
    pickling_support = pytest.importorskip("tblib.pickling_support")
    pickling_support.install()
    error = errors.NotEnoughMemoryError("capture(B=48, T=512): needs", 9, 4)
    again = pickle.loads(pickle.dumps(error))
    assert isinstance(again, MemoryError)
    assert (type(again), str(again), again.needed, again.available) == (
        errors.NotEnoughMemoryError,
        "capture(B=48, T=512): needs",
        9,
        4,
    )
