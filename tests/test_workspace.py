"""The lab workspace: copies of the course notebooks, never over a person's edits."""

import hashlib
import json

import pytest

from distil_explorer._internal.workspace import (
    COURSE_NOTEBOOKS,
    MANIFEST,
    QUICKSTART,
    WIDGET_STATE,
    WIDGET_VIEW,
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


def _notebook(*sources, outputs=(), metadata=None):
    cells = [
        {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {},
            "outputs": list(outputs),
            "source": source,
        }
        for source in sources
    ]
    return json.dumps(
        {"cells": cells, "metadata": metadata or {}, "nbformat": 4, "nbformat_minor": 5}
    )


def _widget_output(model_id):
    return {
        "output_type": "display_data",
        "metadata": {},
        "data": {
            WIDGET_VIEW: {"model_id": model_id, "version_major": 2},
            "text/plain": "Explorer(children=...)",
        },
    }


def test_a_copy_only_run_and_autosaved_is_not_kept(tmp_path):
    course = _course(tmp_path / "course", a=_notebook("x = 1", "x"))
    prepare_workspace(tmp_path / "ws", course)
    ran = _notebook("x = 1", "x", outputs=[{"output_type": "stream", "text": "1"}])
    (tmp_path / "ws" / "a.ipynb").write_text(ran)  # JupyterLab's autosave
    again = prepare_workspace(tmp_path / "ws", course)
    assert again.kept == () and "kept" not in again.summary()
    assert (tmp_path / "ws" / "a.ipynb").read_text() == ran  # its outputs stay
    _course(course, a=_notebook("x = 2", "x"))  # the course moves on
    updated = prepare_workspace(tmp_path / "ws", course)
    assert updated.updated == ("a.ipynb",) and updated.kept == ()
    assert "x = 2" in (tmp_path / "ws" / "a.ipynb").read_text()
    (tmp_path / "ws" / "a.ipynb").write_text(_notebook("x = 3  # mine", "x"))
    _course(course, a=_notebook("x = 4", "x"))
    assert prepare_workspace(tmp_path / "ws", course).kept == ("a.ipynb",)


def test_a_manifest_of_file_digests_still_knows_an_unedited_copy(tmp_path):
    course = _course(tmp_path / "course", a=_notebook("x = 1"))
    prepare_workspace(tmp_path / "ws", course)
    copy = (tmp_path / "ws" / "a.ipynb").read_bytes()
    manifest = {"a.ipynb": hashlib.sha256(copy).hexdigest()}  # before sources
    (tmp_path / "ws" / MANIFEST).write_text(json.dumps(manifest))
    _course(course, a=_notebook("x = 2"))
    assert prepare_workspace(tmp_path / "ws", course).updated == ("a.ipynb",)


def test_widget_outputs_without_saved_state_are_taken_out(tmp_path):
    course = _course(tmp_path / "course", a=_notebook("de.Explorer()"))
    prepare_workspace(tmp_path / "ws", course)
    copy = tmp_path / "ws" / "a.ipynb"
    text = {"output_type": "stream", "name": "stdout", "text": "hello"}
    copy.write_text(_notebook("de.Explorer()", outputs=[_widget_output("dead"), text]))
    assert "kept" not in prepare_workspace(tmp_path / "ws", course).summary()
    outputs = json.loads(copy.read_text())["cells"][0]["outputs"]
    assert outputs == [text]  # the dead view gone, the printed text kept
    # An edited notebook keeps its edits, loses only the dead view; a view
    # whose state the notebook saved still draws, so it stays.
    state = {WIDGET_STATE: {"state": {"alive": {}}, "version_major": 2}}
    edited = _notebook(
        "de.Explorer()  # mine",
        outputs=[_widget_output("dead"), _widget_output("alive")],
        metadata={"widgets": state},
    )
    copy.write_text(edited)
    assert prepare_workspace(tmp_path / "ws", course).kept == ("a.ipynb",)
    reopened = json.loads(copy.read_text())
    assert reopened["cells"][0]["source"] == "de.Explorer()  # mine"
    views = [
        o["data"][WIDGET_VIEW]["model_id"] for o in reopened["cells"][0]["outputs"]
    ]
    assert views == ["alive"]
