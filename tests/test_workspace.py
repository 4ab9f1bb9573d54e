"""The lab workspace: copies of the course notebooks, never over a person's edits."""

import json

import pytest

from distil_explorer._internal.workspace import (
    COURSE_NOTEBOOKS,
    MANIFEST,
    QUICKSTART,
    prepare_workspace,
    workspace_folder,
)


def _course(folder, **notebooks):
    folder.mkdir(exist_ok=True)
    for name, text in notebooks.items():
        (folder / f"{name}.ipynb").write_text(text)
    return folder


def test_copies_every_course_notebook_byte_for_byte(tmp_path):
    workspace = prepare_workspace(tmp_path / "ws")
    names = sorted(p.name for p in COURSE_NOTEBOOKS.glob("*.ipynb"))
    assert list(workspace.copied) == names and QUICKSTART in names
    for name in names:
        copy = (tmp_path / "ws" / name).read_bytes()
        assert copy == (COURSE_NOTEBOOKS / name).read_bytes()
    again = prepare_workspace(tmp_path / "ws")
    assert (again.copied, again.updated, again.kept) == ((), (), ())
    assert again.summary().endswith("up to date.")


def test_an_edited_copy_is_never_overwritten(tmp_path):
    course = _course(tmp_path / "course", a="v1", b="v1")
    prepare_workspace(tmp_path / "ws", course)
    (tmp_path / "ws" / "a.ipynb").write_text("my notes")
    _course(course, a="v2", b="v2")
    workspace = prepare_workspace(tmp_path / "ws", course)
    assert (tmp_path / "ws" / "a.ipynb").read_text() == "my notes"
    assert (tmp_path / "ws" / "b.ipynb").read_text() == "v2"  # untouched: refreshed
    assert workspace.kept == ("a.ipynb",) and workspace.updated == ("b.ipynb",)
    assert "kept your edited a.ipynb" in workspace.summary()


def test_a_copy_made_before_the_manifest_is_kept(tmp_path):
    course = _course(tmp_path / "course", a="v2")
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "a.ipynb").write_text("someone's file")
    workspace = prepare_workspace(tmp_path / "ws", course)
    assert workspace.kept == ("a.ipynb",)
    assert (tmp_path / "ws" / "a.ipynb").read_text() == "someone's file"
    manifest = json.loads((tmp_path / "ws" / MANIFEST).read_text())
    assert "a.ipynb" not in manifest


def test_a_deleted_copy_comes_back(tmp_path):
    course = _course(tmp_path / "course", a="v1")
    prepare_workspace(tmp_path / "ws", course)
    (tmp_path / "ws" / "a.ipynb").unlink()
    assert prepare_workspace(tmp_path / "ws", course).copied == ("a.ipynb",)
    assert not list((tmp_path / "ws").glob(".*.part"))


def test_the_course_folder_itself_is_refused(tmp_path):
    course = _course(tmp_path / "course", a="v1")
    with pytest.raises(ValueError, match="tracks; allowed: any other folder"):
        prepare_workspace(course, course)
    assert (course / "a.ipynb").read_text() == "v1"


def test_without_the_repository_a_starter_notebook_is_written(tmp_path):
    workspace = prepare_workspace(tmp_path / "ws", tmp_path / "no-repo")
    notebook = json.loads((tmp_path / "ws" / QUICKSTART).read_text())
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert "de.Explorer(run=True)" in code[0]["source"]
    assert workspace.copied == (QUICKSTART,)
    (tmp_path / "ws" / QUICKSTART).write_text("edited")
    prepare_workspace(tmp_path / "ws", tmp_path / "no-repo")
    assert (tmp_path / "ws" / QUICKSTART).read_text() == "edited"


def test_workspace_folder_order(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("DISTIL_EXPLORER_WORKSPACE", raising=False)
    assert workspace_folder() == tmp_path / "distil-explorer"
    monkeypatch.setenv("DISTIL_EXPLORER_WORKSPACE", str(tmp_path / "env"))
    assert workspace_folder() == tmp_path / "env"
    assert workspace_folder(tmp_path / "opt") == tmp_path / "opt"
