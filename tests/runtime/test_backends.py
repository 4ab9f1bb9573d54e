"""available_backends, available_devices, device names, and Runner's argument checks."""

import importlib.util
import subprocess
import sys

import pytest

from distil_explorer.runtime import backends
from distil_explorer.runtime.backends import (
    available_backends,
    available_devices,
    check_device,
    list_devices,
)
from distil_explorer.runtime.devices import keras_device_name, normalize_device
from distil_explorer.runtime.runner import Runner


def _has(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


def test_available_backends_are_what_find_spec_finds():
    found = available_backends()
    assert "torch" in found
    assert ("jax" in found) == _has("jax", "jaxlib")
    assert ("tensorflow" in found) == _has("tensorflow")
    assert ("openvino" in found) == _has("openvino", "scipy")
    assert ("numpy" in found) == _has("jax", "jaxlib", "scipy")


def test_numpy_backend_needs_jax_and_scipy(monkeypatch):
    monkeypatch.setattr(backends, "_installed", lambda module: module != "scipy")
    assert "numpy" not in available_backends()
    with pytest.raises(ValueError, match=r"backend='numpy': not installed.*scipy"):
        available_devices("numpy")


def test_unknown_backend_lists_installed_ones():
    with pytest.raises(ValueError, match=r"backend='theano'.*allowed: \['torch'"):
        available_devices("theano")
    with pytest.raises(ValueError, match="backend='theano'"):
        Runner("theano")


def test_this_process_backend_is_asked_directly():
    assert available_devices() == list_devices("torch")
    assert available_devices("torch")[0] == "cpu"


def test_other_backend_is_asked_once_in_a_subprocess(monkeypatch):
    if "jax" not in available_backends():
        pytest.skip("jax is not installed")
    monkeypatch.setattr(backends, "_device_cache", {})
    calls = []
    real_run = subprocess.run

    def counting_run(*args, **kwargs):
        calls.append(args)
        return real_run(*args, **kwargs)

    monkeypatch.setattr(subprocess, "run", counting_run)
    jax_was_imported = "jax" in sys.modules
    first = available_devices("jax")
    assert available_devices("jax") == first
    assert first[0] == "cpu"
    assert len(calls) == 1
    assert ("jax" in sys.modules) == jax_was_imported


@pytest.mark.parametrize(
    "given, expected",
    [
        ("cpu", "cpu"),
        ("CPU:0", "cpu"),
        ("gpu", "cuda:0"),
        ("cuda", "cuda:0"),
        ("GPU:1", "cuda:1"),
        ("cuda:2", "cuda:2"),
        ("mps", "mps"),
        ("tpu", "tpu:0"),
    ],
)
def test_normalize_device(given, expected):
    assert normalize_device(given) == expected


@pytest.mark.parametrize(
    "backend, device, expected",
    [
        ("torch", "cuda:1", "cuda:1"),
        ("torch", "mps", "mps"),
        ("jax", "cuda:0", "gpu:0"),
        ("jax", "cpu", "cpu:0"),
        ("tensorflow", "cuda:1", "/GPU:1"),
        ("tensorflow", "cpu", "/CPU:0"),
        ("numpy", "cpu", "cpu"),
    ],
)
def test_keras_device_name(backend, device, expected):
    assert keras_device_name(backend, device) == expected


def test_unseen_device_lists_the_seen_ones():
    with pytest.raises(ValueError, match=r"device='cuda:9'.*allowed: \['cpu'"):
        check_device("torch", "cuda:9")
    with pytest.raises(ValueError, match="device='cuda:9'"):
        Runner(device="cuda:9")
    with pytest.raises(ValueError, match="device=3: must be a string"):
        Runner(device=3)


def test_numpy_backend_has_only_a_cpu():
    if "numpy" not in available_backends():
        pytest.skip("the numpy backend needs jax and scipy")
    assert available_devices("numpy") == ["cpu"]
    with pytest.raises(ValueError, match=r"device='gpu'.*allowed: \['cpu'\]"):
        Runner("numpy", device="gpu")


@pytest.mark.parametrize("timeout", [0, -1, "10", True])
def test_timeout_must_be_positive_seconds(timeout):
    with pytest.raises(ValueError, match="timeout="):
        Runner(timeout=timeout)
