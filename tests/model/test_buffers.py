import gc

import keras
import numpy as np
import pytest

from distil_explorer import capture
from distil_explorer.model import buffers
from distil_explorer.model.buffers import new_buffer
from tests.conftest import tiny_inputs


@pytest.fixture(autouse=True)
def empty_cache():
    buffers.clear_cache()
    yield
    buffers.clear_cache()


def test_memory_is_reused_only_once_every_view_is_gone():
    first = new_buffer((4, 1000))
    address = first.ctypes.data
    view = first[1:].view()
    view.flags.writeable = False
    del first
    gc.collect()
    second = new_buffer((4, 1000))
    assert second.ctypes.data != address  # `view` still reads that memory
    second[:] = 7.0
    assert not np.shares_memory(second, view)
    del view
    third = new_buffer((4, 1000))
    assert third.ctypes.data == address


def test_is_like_np_empty():
    array = new_buffer((2, 3, 5), "int32")
    assert array.shape == (2, 3, 5) and array.dtype == np.int32
    assert array.flags.writeable and array.flags.c_contiguous
    array[:] = np.arange(30).reshape(2, 3, 5)
    np.testing.assert_array_equal(array.ravel(), np.arange(30))
    assert new_buffer((0, 4)).size == 0


def test_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(buffers, "CACHE_BLOCKS", 2)
    arrays = [new_buffer((1000,)) for _ in range(5)]
    del arrays
    assert len(buffers._free) == 2


@pytest.mark.parametrize("shape", [[2, 3], (2, -1), (2.0,), (True, 2), "23"])
def test_bad_shapes_are_refused(shape):
    with pytest.raises(ValueError, match="shape=.*allowed: a tuple of non-negative"):
        new_buffer(shape)


def test_a_live_trace_is_never_overwritten_by_the_next_capture(tiny_backbone):
    inputs = tiny_inputs()
    first = capture(tiny_backbone, inputs)
    kept = first.attentions.copy(), first.hidden_states.copy()
    other = dict(inputs, token_ids=(inputs["token_ids"] + 1) % 10)
    for _ in range(3):
        second = capture(tiny_backbone, other)
    assert not np.shares_memory(first.attentions, second.attentions)
    np.testing.assert_array_equal(first.attentions, kept[0])
    np.testing.assert_array_equal(first.hidden_states, kept[1])


def test_a_capture_into_recycled_memory_is_exact(tiny_backbone):
    inputs = tiny_inputs()
    fresh = capture(tiny_backbone, inputs)
    expected = fresh.attentions.copy(), fresh.hidden_states.copy()
    del fresh
    garbage = new_buffer(expected[0].shape)  # leave stale values behind
    garbage[:] = np.nan
    del garbage
    again = capture(tiny_backbone, inputs)
    np.testing.assert_array_equal(again.attentions, expected[0])
    np.testing.assert_array_equal(again.hidden_states, expected[1])
    out = keras.ops.convert_to_numpy(tiny_backbone(inputs))
    np.testing.assert_allclose(again.hidden_states[-1], out, atol=1e-5)
