"""The folder `distil-explorer lab` works in: copies of the course notebooks.

JupyterLab saves (and autosaves) outputs into the files it serves, and a
kernel starts in its notebook's folder, where relative exports land. Serving
copies in a workspace folder keeps the repository's tracked `notebooks/`
untouched and puts exports next to the copies.

The workspace is `~/distil-explorer`, or `$DISTIL_EXPLORER_WORKSPACE`, or the
`--workspace` option of `distil-explorer lab`. A copy the person has edited
is never overwritten: `.distil-explorer-copies.json` in the workspace records
the sha256 of each file as it was copied, and only a copy still equal to that
is refreshed when the course's version changes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

WORKSPACE_ENV = "DISTIL_EXPLORER_WORKSPACE"
DEFAULT_WORKSPACE = "~/distil-explorer"
COURSE_NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
QUICKSTART = "00_quickstart.ipynb"
MANIFEST = ".distil-explorer-copies.json"


@dataclasses.dataclass(frozen=True)
class Workspace:
    """What `prepare_workspace` did: the folder and each notebook's fate."""

    folder: Path
    copied: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()  # edited here, the course's version differs

    def summary(self) -> str:
        """One sentence for the terminal.

        Examples:

        >>> Workspace(Path("/w"), copied=("a.ipynb",)).summary()
        'workspace /w: copied 1 course notebook.'
        """
        parts = [
            f"{verb} {len(names)} course notebook{'s' * (len(names) != 1)}"
            for verb, names in (("copied", self.copied), ("updated", self.updated))
            if names
        ]
        if self.kept:
            parts.append(
                f"kept your edited {', '.join(self.kept)} (the course's version "
                f"is in {COURSE_NOTEBOOKS})"
            )
        return f"workspace {self.folder}: {', '.join(parts) or 'up to date'}."


def workspace_folder(folder: str | os.PathLike[str] | None = None) -> Path:
    """The workspace: `folder`, else $DISTIL_EXPLORER_WORKSPACE, else ~/distil-explorer.

    Examples:

    >>> workspace_folder("/tmp/course").as_posix()
    '/tmp/course'
    """
    chosen = folder or os.environ.get(WORKSPACE_ENV) or DEFAULT_WORKSPACE
    return Path(chosen).expanduser().absolute()


def prepare_workspace(
    folder: str | os.PathLike[str], sources: Path | None = COURSE_NOTEBOOKS
) -> Workspace:
    """Copy the course notebooks from `sources` into `folder`, never over edits.

    A notebook missing from `folder` is copied; one equal to what was copied
    last time is refreshed when the course's version changed; one the person
    edited is kept as it is. Without `sources` (an install without the
    repository) a starter quickstart notebook is written instead.

    Args:
        folder: str or os.PathLike. The workspace; created if missing.
        sources: Path or None. The folder of course notebooks.

    Examples:

    ```python
    workspace = prepare_workspace(workspace_folder())
    print(workspace.summary())
    ```
    """
    target = Path(folder).expanduser().absolute()
    if sources is not None and sources.is_dir():
        if target.resolve() == sources.resolve():
            raise ValueError(
                f"workspace={str(target)!r}: is the course's own notebooks folder, "
                "which the repository tracks; allowed: any other folder, e.g. "
                f"{DEFAULT_WORKSPACE}"
            )
        notebooks = sorted(sources.glob("*.ipynb"))
    else:
        notebooks = []
    target.mkdir(parents=True, exist_ok=True)
    manifest_path = target / MANIFEST
    manifest = _read_manifest(manifest_path)
    fates: dict[str, list[str]] = {"copied": [], "updated": [], "kept": []}
    for source in notebooks:
        data = source.read_bytes()
        fate = _place(target / source.name, data, manifest.get(source.name))
        if fate != "kept":
            manifest[source.name] = _sha256(data)
        if fate in fates:
            fates[fate].append(source.name)
    if not notebooks and not (target / QUICKSTART).exists():
        (target / QUICKSTART).write_text(_starter_notebook())
        fates["copied"].append(QUICKSTART)
    if notebooks:
        manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return Workspace(target, *(tuple(fates[k]) for k in ("copied", "updated", "kept")))


def adopt_notebook(folder: str | os.PathLike[str], notebook: Path) -> Workspace:
    """Copy one notebook into the workspace (never over an edited copy).

    For a notebook inside the repository that is not a course notebook: it
    is opened as a copy, so saving it never writes a tracked file.

    Examples:

    ```python
    adopt_notebook(workspace_folder(), Path("tests/fixtures/demo.ipynb"))
    ```
    """
    target = Path(folder).expanduser().absolute()
    target.mkdir(parents=True, exist_ok=True)
    manifest_path = target / MANIFEST
    manifest = _read_manifest(manifest_path)
    data = notebook.read_bytes()
    fate = _place(target / notebook.name, data, manifest.get(notebook.name))
    if fate != "kept":
        manifest[notebook.name] = _sha256(data)
        manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    names = {fate: (notebook.name,)} if fate in ("copied", "updated", "kept") else {}
    return Workspace(target, **names)


def in_repository(path: Path) -> bool:
    """Whether `path` lies inside this checkout (False for an installed package).

    Examples:

    >>> in_repository(Path("/"))
    False
    """
    if not COURSE_NOTEBOOKS.is_dir():
        return False
    return path.resolve().is_relative_to(COURSE_NOTEBOOKS.parent)


def _place(path: Path, data: bytes, copied_sha: str | None) -> str:
    """Write `data` to `path` unless the person changed `path`; say what happened."""
    if path.exists():
        current = _sha256(path.read_bytes())
        if current == _sha256(data):
            return "same"
        if current != copied_sha:
            return "kept"
        fate = "updated"
    else:
        fate = "copied"
    staging = path.with_name(f".{path.name}.part")
    staging.write_bytes(data)
    staging.replace(path)  # atomic: a crash never leaves half a notebook
    return fate


def _read_manifest(path: Path) -> dict[str, str]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _starter_notebook() -> str:
    """A two-cell explorer notebook (for installs without the repository)."""
    cells = [
        {
            "cell_type": "markdown",
            "metadata": {},
            "source": "# distil-explorer\nRun the cell below to look inside.",
        },
        {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": "import distil_explorer as de\n\nde.Explorer(run=True)",
        },
    ]
    notebook = {
        "cells": cells,
        "metadata": {
            "kernelspec": {
                "display_name": "Python 3",
                "language": "python",
                "name": "python3",
            }
        },
        "nbformat": 4,
        "nbformat_minor": 4,
    }
    return json.dumps(notebook, indent=1)
