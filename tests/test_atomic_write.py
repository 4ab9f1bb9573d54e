"""atomic_write: complete or untouched under every failure, usual modes, clear errors.

Faults are injected with monkeypatch at each step (write, fsync, rename,
cleanup, rmtree); after each, the target is byte-for-byte what it was and no
temporary file or folder is left. The four writers (Trace.save, export_view,
report, tokenizer presets) all go through this module, so they are checked
here for the mode and the missing-folder error too.
"""

import os
import shutil
import stat
import warnings
from pathlib import Path

import numpy as np
import pytest

from distil_explorer._internal import atomic_write
from distil_explorer._internal.atomic_write import (
    replace_directory,
    write_file,
    write_files,
)
from tests.weights.tiny_files import snapshot


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_file_gets_the_umask_mode_not_mkstemps_0600(tmp_path, umask_022):
    assert _mode(write_file(tmp_path / "a.txt", "x")) == 0o644
    os.umask(0o002)
    assert _mode(write_file(tmp_path / "b.txt", b"x")) == 0o664


def test_missing_folder_is_named_not_a_temporary_file(tmp_path):
    target = tmp_path / "missing" / "out.json"
    with pytest.raises(FileNotFoundError, match=r"out\.json'?: the folder .*missing"):
        write_file(target, "{}")
    assert not (tmp_path / "missing").exists()


def test_every_writer_names_the_missing_folder_and_uses_the_usual_mode(
    tiny_trace, tmp_path, umask_022
):
    from distil_explorer.views.export import export_view
    from distil_explorer.views.report import report

    writers = {
        "trace.npz": tiny_trace.save,
        "head.svg": lambda p: export_view(p, tiny_trace, "head"),
        "page.html": lambda p: report(tiny_trace, p),
    }
    for name, write in writers.items():
        with pytest.raises(FileNotFoundError, match=f"{name}'?: the folder"):
            write(tmp_path / "nowhere" / name)
        assert _mode(write(tmp_path / name)) == 0o644, name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(writers)


@pytest.mark.parametrize("step", ["write", "fsync", "replace"])
def test_a_failing_step_leaves_the_old_file_and_no_temporary(
    tmp_path, monkeypatch, step
):
    target = tmp_path / "data.bin"
    target.write_bytes(b"old")

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    content = b"new"
    if step == "write":

        def content(f):
            f.write(b"half")
            fail()

    else:
        monkeypatch.setattr(atomic_write.os, step, fail)
    with pytest.raises(OSError, match=r"data\.bin'?: could not be written") as info:
        write_file(target, content)
    assert info.value.errno == 28 and ".part" not in str(info.value)
    assert snapshot(tmp_path) == {"data.bin": b"old"}


def test_a_non_os_error_while_writing_passes_through_unchanged(tmp_path):
    def content(f):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_file(tmp_path / "x.bin", content)
    assert list(tmp_path.iterdir()) == []


def test_a_failing_cleanup_does_not_hide_the_first_error(tmp_path, monkeypatch):
    real_unlink = Path.unlink
    unlinked = []

    def unlink_fails(self, missing_ok=False):
        unlinked.append(self.name)
        raise PermissionError("cleanup refused")

    def content(f):
        raise OSError(5, "I/O error")

    monkeypatch.setattr(Path, "unlink", unlink_fails)
    with pytest.raises(OSError, match="I/O error"):
        write_file(tmp_path / "x.bin", content)
    monkeypatch.setattr(Path, "unlink", real_unlink)
    assert unlinked and all(name.endswith(".part") for name in unlinked)


def test_write_files_changes_nothing_when_a_later_file_fails(tmp_path):
    first = tmp_path / "one.txt"
    first.write_text("old")

    def broken(f):
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_files({first: "new", tmp_path / "two.txt": broken})
    assert snapshot(tmp_path) == {"one.txt": b"old"}


def test_a_directory_target_is_refused_by_name(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError, match="d'?: is a directory"):
        write_file(tmp_path / "d", "x")


# replace_directory


def _preset(path: Path, text: str) -> Path:
    (path / "sub").mkdir(parents=True)
    (path / "config.json").write_text(text)
    (path / "sub" / "keep.txt").write_text("kept")
    return path


def _fill(text):
    return lambda d: write_file(d / "config.json", text)


def test_replace_directory_keeps_other_files_and_leaves_no_sibling(tmp_path):
    target = _preset(tmp_path / "p", "old")
    replace_directory(target, _fill("new"))
    assert snapshot(target) == {"config.json": b"new", "sub/keep.txt": b"kept"}
    assert [p.name for p in tmp_path.iterdir()] == ["p"]


def test_fill_failure_leaves_the_old_directory(tmp_path):
    target = _preset(tmp_path / "p", "old")
    before = snapshot(tmp_path)

    def fill(d):
        write_file(d / "config.json", "new")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        replace_directory(target, fill)
    assert snapshot(tmp_path) == before
    assert [p.name for p in tmp_path.iterdir()] == ["p"]


def test_failed_swap_puts_the_old_directory_back(tmp_path, monkeypatch):
    target = _preset(tmp_path / "p", "old")
    before = snapshot(tmp_path)
    real_rename = os.rename
    calls = []

    def second_rename_fails(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # staging -> target
            raise OSError("rename refused")
        real_rename(src, dst)

    monkeypatch.setattr(atomic_write.os, "rename", second_rename_fails)
    with pytest.raises(OSError, match="rename refused"):
        replace_directory(target, _fill("new"))
    assert snapshot(tmp_path) == before
    assert [p.name for p in tmp_path.iterdir()] == ["p"]


def test_failed_rmtree_of_the_old_copy_keeps_the_new_and_the_next_save_cleans(
    tmp_path, monkeypatch
):
    target = _preset(tmp_path / "p", "old")
    real_rmtree = shutil.rmtree

    def rmtree_fails(path, *args, **kwargs):
        if str(path).endswith(".old") and not kwargs.get("ignore_errors"):
            raise PermissionError("rmtree refused")
        real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(atomic_write.shutil, "rmtree", rmtree_fails)
    with pytest.warns(RuntimeWarning, match="could not be removed"):
        replace_directory(target, _fill("new"))
    assert (target / "config.json").read_text() == "new"
    monkeypatch.setattr(atomic_write.shutil, "rmtree", real_rmtree)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        replace_directory(target, _fill("newer"))  # and the next save works
    assert [p.name for p in tmp_path.iterdir()] == ["p"]
    assert (target / "config.json").read_text() == "newer"


def test_relative_dot_resolves_and_the_working_directory_follows(tmp_path, monkeypatch):
    target = _preset(tmp_path / "p", "old")
    monkeypatch.chdir(target / "sub")
    replace_directory("..", _fill("new"))
    assert Path.cwd() == target / "sub"  # the new directory, not a deleted one
    assert Path("keep.txt").read_text() == "kept"
    monkeypatch.chdir(target)
    replace_directory(".", _fill("again"))
    assert Path("config.json").read_text() == "again"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]


def test_read_only_directory_is_refused_before_anything_changes(tmp_path, monkeypatch):
    target = _preset(tmp_path / "p", "old")
    before = snapshot(tmp_path)
    # As root every folder is writable; os.access is what a user would see.
    monkeypatch.setattr(
        atomic_write.os, "access", lambda path, mode: not str(path).endswith("sub")
    )
    with pytest.raises(PermissionError, match=r"sub is read-only.*nothing was changed"):
        replace_directory(target, _fill("new"))
    assert snapshot(tmp_path) == before
    monkeypatch.undo()
    replace_directory(target, _fill("new"))
    assert (target / "config.json").read_text() == "new"


def test_existing_files_are_shared_not_copied_and_never_written_in_place(tmp_path):
    target = _preset(tmp_path / "p", "old")
    kept_inode = (target / "sub" / "keep.txt").stat().st_ino
    old_config = target / "config.json"
    handle = old_config.open("rb")  # a reader of the old file keeps its bytes
    replace_directory(target, _fill("new"))
    assert (target / "sub" / "keep.txt").stat().st_ino == kept_inode
    assert handle.read() == b"old"
    handle.close()


def test_a_file_where_the_directory_should_be_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        replace_directory(tmp_path / "f", _fill("new"))


def test_trace_save_failure_changes_nothing(tiny_trace, tmp_path, monkeypatch):
    path = tiny_trace.save(tmp_path / "t.npz")
    before = snapshot(tmp_path)

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match=r"t\.npz'?: could not be written"):
        tiny_trace.save(path)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("bad", [3, None, b"t.npz", ["t.npz"]])
def test_paths_that_are_not_paths_are_named(tiny_trace, tmp_path, bad):
    from distil_explorer import DistilBertTokenizer, Trace
    from distil_explorer.views.export import export_view

    calls = {
        "path": [
            lambda: tiny_trace.save(bad),
            lambda: Trace.load(bad),  # open(3) would read file descriptor 3
            lambda: export_view(bad, tiny_trace),
            lambda: DistilBertTokenizer.from_directory(bad),
            lambda: write_file(bad, "x"),
        ],
        "directory": [lambda: replace_directory(bad, _fill("x"))],
    }
    for name, group in calls.items():
        for call in group:
            with pytest.raises(ValueError, match=f"{name}=.*: not a path"):
                call()
