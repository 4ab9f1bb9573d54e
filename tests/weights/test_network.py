"""The wall-clock bound on a hub's answer, and the bars that draw nothing."""

import threading
import time

import pytest

from distil_explorer.weights import network


def test_probe_bounds_a_call_that_hangs(monkeypatch):
    monkeypatch.setenv(network.NETWORK_TIMEOUT_ENV, "0.2")
    release = threading.Event()
    start = time.perf_counter()
    failure = network.probe("Kaggle", lambda timeout: release.wait(5))
    release.set()
    assert time.perf_counter() - start < 1
    assert isinstance(failure, TimeoutError) and "0.2 s" in str(failure)
    assert network.probe("Kaggle", lambda timeout: None) is None


def test_network_timeout_is_checked(monkeypatch):
    monkeypatch.setenv(network.NETWORK_TIMEOUT_ENV, "10")
    assert network.network_timeout() == 10
    monkeypatch.setenv(network.NETWORK_TIMEOUT_ENV, "soon")
    with pytest.raises(ValueError, match="DISTIL_EXPLORER_NETWORK_TIMEOUT='soon'"):
        network.network_timeout()


def test_forwarding_bars_draw_nothing_and_forward_only_bytes(capsys):
    calls = []
    Bar = network.forwarding_tqdm(lambda *a: calls.append(a), "downloading x")
    files = Bar(total=3, desc="Fetching 3 files")
    transfer = Bar(desc="Downloading bytes", total=0, unit="B")
    transfer.total = 50
    files.update(1)
    transfer.update(20)
    transfer.update(30)
    assert calls == [("downloading x", 20, 50), ("downloading x", 50, 50)]
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (TimeoutError("x did not answer"), "no answer within 2 s"),
        (ConnectionError("[Errno -2] Name or service not known"), "does not resolve"),
        (ConnectionError("ProxyError('Unable to connect to proxy')"), "the proxy"),
        (ConnectionRefusedError("[Errno 111] Connection refused"), "refused"),
    ],
)
def test_reason_says_what_went_wrong(error, words, monkeypatch):
    monkeypatch.delenv(network.NETWORK_TIMEOUT_ENV, raising=False)
    assert words in network.reason(error)
