import numpy as np
import pytest

from distil_explorer.views.encoding import decode, downsample_maps, encode, to_uint8


def _softmax_maps(shape, seed=0):
    logits = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_float32_round_trip_is_exact():
    array = _softmax_maps((3, 5, 5))
    payload = encode(array)
    assert payload["shape"] == [3, 5, 5] and payload["dtype"] == "float32"
    assert len(payload["data"]) == array.size * 4
    assert np.array_equal(decode(payload), array)


def test_float32_bytes_are_little_endian():
    assert encode(np.array([1.0]))["data"] == np.array([1.0], "<f4").tobytes()


def test_uint8_payload():
    payload = encode(np.array([[0, 7, 255]]), "uint8")
    assert payload["data"] == bytes([0, 7, 255])
    assert decode(payload).dtype == np.uint8


def test_unknown_dtype_is_refused():
    with pytest.raises(ValueError, match="dtype='float64'"):
        encode(np.zeros(2), "float64")


def test_uint8_quantisation_error_is_within_a_step_of_the_max():
    values = _softmax_maps((6, 12, 32, 32))
    q = to_uint8(values)
    assert q.dtype == np.uint8 and q.max() == 255
    restored = q.astype(np.float32) / 255 * values.max()
    assert np.abs(restored - values).max() <= values.max() / 255


def test_uint8_per_map_scale_gives_every_map_full_contrast():
    maps = _softmax_maps((4, 8, 8)) * np.array([1, 0.1, 0.01, 0.001])[:, None, None]
    q = to_uint8(maps, axes=(-2, -1))
    assert (q.reshape(4, -1).max(-1) == 255).all()
    vmax = maps.max(axis=(-2, -1), keepdims=True)
    assert (np.abs(q / 255 * vmax - maps) <= vmax / 255).all()


def test_uint8_keeps_zero_and_an_all_zero_map():
    q = to_uint8(np.zeros((2, 3, 3)), axes=(-2, -1))
    assert (q == 0).all()


def test_uint8_refuses_negative_values():
    with pytest.raises(ValueError, match="non-negative"):
        to_uint8([-0.5, 1.0])


@pytest.mark.parametrize("length", [128, 100, 65])
def test_downsampling_keeps_row_sums(length):
    maps = _softmax_maps((2, 3, length, length))
    small = downsample_maps(maps, 64)
    assert small.shape == (2, 3, 64, 64)
    np.testing.assert_allclose(small.sum(-1), 1.0, atol=1e-5)


def test_downsampling_averages_blocks():
    maps = np.arange(16, dtype=np.float32).reshape(4, 4)
    small = downsample_maps(maps, 2)
    # Rows averaged, columns summed over 2 x 2 blocks.
    expected = [[(0 + 1 + 4 + 5) / 2, (2 + 3 + 6 + 7) / 2], [21, 25]]
    np.testing.assert_allclose(small, expected)


def test_small_maps_are_left_as_they_are():
    maps = _softmax_maps((5, 5))
    small = downsample_maps(maps, 64)
    assert np.array_equal(small, maps) and small is not maps


def test_downsampling_refuses_bad_sizes():
    with pytest.raises(ValueError, match="size=0"):
        downsample_maps(np.zeros((4, 4)), 0)
    with pytest.raises(ValueError, match="ndim=1"):
        downsample_maps(np.zeros(4), 2)


def test_base_model_payload_sizes():
    # The 6 layers x 12 heads of a base model at T=128.
    maps = _softmax_maps((6, 12, 128, 128))
    assert len(encode(maps)["data"]) == 4_718_592  # 4.7 MB as float32
    assert len(encode(to_uint8(maps), "uint8")["data"]) == 1_179_648  # 1.18 MB
    thumbs = to_uint8(downsample_maps(maps, 64), axes=(-2, -1))
    assert len(encode(thumbs, "uint8")["data"]) == 294_912  # 0.29 MB
