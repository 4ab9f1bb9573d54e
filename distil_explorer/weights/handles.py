"""Check `kaggle://` and `hf://` handles before a hub client sees them.

kagglehub and huggingface_hub both build cache paths from a handle's names
with plain path joins, so a name such as `..` would read (or write) outside
their caches: `kaggle://../../outside/v/1` loaded a preset from anywhere.
Every name is checked here, before anything is read or asked over the
network.
"""

from __future__ import annotations

import re

KAGGLE_FORM = "kaggle://owner/model/framework/variation[/version]"
HF_FORM = "hf://owner/repo"
# One name of a handle: what Kaggle slugs and Hugging Face repo ids allow
# (ASCII only, so no look-alike dots or slashes), never a leading dot.
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,95}", re.ASCII)
_DRIVE = re.compile(r"[A-Za-z]:")


def kaggle_slug(handle: str) -> str:
    """Check a `kaggle://` handle and return what `kagglehub` expects.

    Segments that could leave kagglehub's cache (`..`, `.`, an absolute path,
    a backslash, an empty segment, characters outside `A-Z a-z 0-9 . _ -`)
    are refused before anything is read.

    Examples:

    >>> kaggle_slug("kaggle://keras/distil_bert/keras/distil_bert_base_en/3")
    'keras/distil_bert/keras/distil_bert_base_en/3'
    >>> try:
    ...     kaggle_slug("kaggle://../../outside/v/1")
    ... except ValueError as err:
    ...     print(str(err).split(";")[0])
    preset='kaggle://../../outside/v/1': segment '..' would step outside the hub's cache
    """
    parts = _safe_segments(handle, "kaggle://", KAGGLE_FORM)
    if len(parts) not in (4, 5) or (len(parts) == 5 and not parts[4].isdigit()):
        raise ValueError(
            f"preset={handle!r}: a Kaggle model handle has 4 names and an optional "
            f"integer version; allowed: '{KAGGLE_FORM}'"
        )
    return "/".join(parts)


def hf_repo_id(handle: str) -> str:
    """Check an `hf://` handle and return its repo id.

    Refuses the same unsafe segments as `kaggle_slug`, before any request.

    Examples:

    >>> hf_repo_id("hf://distilbert/distilbert-base-uncased")
    'distilbert/distilbert-base-uncased'
    """
    parts = _safe_segments(handle, "hf://", HF_FORM)
    if len(parts) != 2:
        raise ValueError(
            f"preset={handle!r}: a Hugging Face handle names an owner and a repo; "
            f"allowed: '{HF_FORM}'"
        )
    return "/".join(parts)


def _safe_segments(handle: str, prefix: str, form: str) -> list[str]:
    """The handle's names, refusing anything a hub client could join into a
    path outside its cache: kagglehub and huggingface_hub both build cache
    paths from these names with plain path joins."""
    rest = handle.removeprefix(prefix)
    parts = rest.split("/")
    if rest.startswith("/") or _DRIVE.match(rest):
        why = "an absolute path is not a hub handle"
    elif "\\" in rest:
        why = "a backslash is a path separator on Windows"
    elif not all(parts):
        why = "empty segment (a leading, trailing or doubled '/')"
    elif bad := next((p for p in parts if p in (".", "..")), None):
        why = f"segment {bad!r} would step outside the hub's cache"
    elif bad := next((p for p in parts if not _SEGMENT.fullmatch(p)), None):
        why = f"segment {bad!r} has a character a hub name cannot hold"
    else:
        return parts
    raise ValueError(
        f"preset={handle!r}: {why}; allowed: '{form}', each name made of "
        "A-Z a-z 0-9 . _ - and not starting with '.' or '-'"
    )
