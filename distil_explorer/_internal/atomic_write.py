"""Write files and directories so that they appear complete or not at all.

The one place that writes anything to disk for distil-explorer (Trace.save,
reports, exports, tokenizer and backbone presets). Each write goes to a
temporary name next to the target (same filesystem, so the final rename is
atomic), is flushed and fsynced, and is renamed into place; whatever fails
(the write, fsync, the rename, the cleanup) the target is left as it was and
no temporary file stays behind. Files get the ordinary umask-respecting mode
(0644 under the usual umask), not `mkstemp`'s 0600.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO

from distil_explorer._internal.write_errors import naming_directory
from distil_explorer._internal.write_errors import naming_file as _naming

Content = bytes | str | Callable[[BinaryIO], object]
_PART = ".part"
_NEW = ".new"
_OLD = ".old"


def write_file(path: str | os.PathLike, content: Content) -> Path:
    """Write `content` to `path` atomically and return `path` as a Path.

    Args:
        path: str or PathLike. The file; its folder must exist.
        content: bytes, str (written as UTF-8), or a function that writes
            into the binary file object it is given.

    Raises:
        FileNotFoundError: naming `path`, when its folder does not exist.
        OSError: of the same kind as the failure (disk full, permission),
            naming `path`, never the temporary file.

    Examples:
    ```python
    write_file("out.json", json.dumps(data))
    write_file("figure.svg", lambda f: figure.savefig(f, format="svg"))
    ```
    """
    return write_files({checked_path("path", path): content})[0]


def write_files(
    files: Mapping[str | os.PathLike, Content], make_folders: bool = False
) -> list[Path]:
    """Write several files: all or none of them.

    Every file is written in full under a temporary name first, then each
    is renamed into place; if a rename fails, the targets already replaced
    get their old contents back (kept as hard links until the end), so the
    files never mix old and new.

    Args:
        files: target path -> content, as `write_file` takes it.
        make_folders: bool. Create missing folders (else a missing folder is
            a FileNotFoundError naming the path).

    Examples:
    ```python
    write_files({"p/tokenizer.json": text, "p/assets/vocab.txt": vocab}, True)
    ```
    """
    targets = [checked_path("path", p) for p in files]
    for target in targets:
        _check_folder(target, make_folders)
    temporary: list[Path] = []
    backups: list[Path] = []
    replaced: list[tuple[Path, Path | None]] = []
    try:
        for target, content in zip(targets, files.values(), strict=True):
            temporary.append(_write_temporary(target, content))
        for tmp, target in zip(temporary, targets, strict=True):
            backup = _keep_old(target) if len(targets) > 1 else None
            if backup is not None:
                backups.append(backup)
            _replace(tmp, target)
            replaced.append((target, backup))
        for folder in {t.parent for t in targets}:
            _fsync_folder(folder)
    except BaseException:
        for target, backup in reversed(replaced):
            with contextlib.suppress(OSError):
                if backup is None:
                    target.unlink()
                else:
                    os.replace(backup, target)
        raise
    finally:
        for tmp in temporary + backups:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    return targets


def _keep_old(target: Path) -> Path | None:
    """A hard link (or copy) of `target`'s current file, to undo a replace."""
    if not target.is_file():
        return None
    backup = target.with_name(f".{target.name}.{secrets.token_hex(4)}{_PART}")
    try:
        os.link(target, backup)
    except OSError:
        try:
            shutil.copy2(target, backup)
        except OSError as error:
            raise _naming(error, target) from error
    return backup


def replace_directory(
    directory: str | os.PathLike, fill: Callable[[Path], object]
) -> Path:
    """Rebuild `directory` in a sibling folder and swap it into place.

    The sibling starts as a copy of `directory`'s files (hard links where the
    filesystem allows, so a 250 MB preset costs nothing to copy) and `fill`
    writes into it. Only when `fill` returned is the old directory renamed
    away and the new one renamed into place; if that second rename fails the
    old one is put back. So `directory` is at every moment either the old
    one intact or the new one complete, and no sibling stays behind.

    `fill` must write new files (e.g. with `write_file`) and never write into
    an existing file in place: existing files may be hard links shared with
    the old directory.

    Relative paths (".", "..") are resolved first; a process whose working
    directory was `directory` is moved into the new one.

    Args:
        directory: str or PathLike. Created (with its parents) if missing.
        fill: function of the staging directory's Path.

    Raises:
        PermissionError: naming `directory`, when it or a folder in it is
            read-only (a save would have to replace it); nothing is changed.

    Examples:
    ```python
    replace_directory("my_preset", lambda d: write_file(d / "config.json", text))
    ```
    """
    target = checked_path("directory", directory).resolve()
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(
            f"directory={str(directory)!r}: {target} is a file; allowed: a "
            "directory (new or existing)"
        )
    if target.parent == target:
        raise ValueError(
            f"directory={str(directory)!r}: the filesystem root cannot be "
            "replaced; allowed: a directory inside a folder"
        )
    _check_writable(target, directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep_leftovers(target)
    staging = _sibling(target, _NEW)
    try:
        try:
            staging.mkdir(mode=_folder_mode(target))
            if target.is_dir():
                _link_tree(target, staging)
            fill(staging)
            _fsync_tree(staging)
        except OSError as error:
            named = naming_directory(error, staging, target, directory)
            if named is None:  # not about the staging copy (a read, say)
                raise
            raise named from error
        _swap(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def checked_path(name: str, value: object) -> Path:
    """`value` as a Path; anything but a str or PathLike is refused by `name`.

    `open(3)` would open file descriptor 3 and `Path(3)` raises a bare
    TypeError: neither says which argument was wrong.

    Examples:
    ```python
    checked_path("path", "trace.npz")  # PosixPath('trace.npz')
    ```
    """
    if isinstance(value, (str, os.PathLike)) and not isinstance(value, bytes):
        return Path(value).expanduser()
    raise ValueError(f"{name}={value!r}: not a path; allowed: a str or pathlib.Path")


def _check_folder(target: Path, make_folders: bool) -> None:
    if target.name in ("", ".", ".."):
        raise ValueError(f"path={str(target)!r}: allowed: a file name")
    if make_folders:
        target.parent.mkdir(parents=True, exist_ok=True)
    elif not target.parent.is_dir():
        raise FileNotFoundError(
            f"path={str(target)!r}: the folder {str(target.parent)!r} does not "
            "exist; allowed: a path in an existing folder (create it first)"
        )
    if target.is_dir():
        raise IsADirectoryError(
            f"path={str(target)!r}: is a directory; allowed: a file name"
        )


def _write_temporary(target: Path, content: Content) -> Path:
    # os.open with 0o666 gives the mode a plain open() would: umask applies.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}{_PART}")
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:
            continue
        except OSError as error:
            raise _naming(error, target) from error
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(content):
                content(f)
            else:
                f.write(
                    content.encode("utf-8") if isinstance(content, str) else content
                )
            f.flush()
            os.fsync(f.fileno())
    except BaseException as error:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise _naming(error, target) from error
        raise
    return tmp


def _replace(tmp: Path, target: Path) -> None:
    try:
        os.replace(tmp, target)
    except OSError as error:
        raise _naming(error, target) from error


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable; not every platform can open a folder.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_tree(root: Path) -> None:
    for folder, _, names in os.walk(root):
        for name in names:
            with contextlib.suppress(OSError):
                fd = os.open(os.path.join(folder, name), os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        _fsync_folder(Path(folder))


def _check_writable(target: Path, given) -> None:
    if not target.is_dir():
        return
    for folder, _, _ in os.walk(target):
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(
                f"directory={str(given)!r}: {folder} is read-only, and a save "
                "replaces the whole directory; nothing was changed; allowed: "
                "make it writable (chmod -R u+w) or save to another directory"
            )


def _folder_mode(target: Path) -> int:
    if target.is_dir():
        return stat.S_IMODE(target.stat().st_mode) | stat.S_IRWXU
    return 0o777  # mkdir applies the umask


def _sibling(target: Path, suffix: str) -> Path:
    return target.with_name(f".{target.name}.{secrets.token_hex(4)}{suffix}")


def _link_tree(source: Path, destination: Path) -> None:
    failures: list[OSError] = []

    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:  # another filesystem, or links not allowed
            try:
                shutil.copy2(src, dst)
            except OSError as error:
                error.filename = error.filename or dst
                failures.append(error)
                raise

    try:
        shutil.copytree(
            source,
            destination,
            symlinks=True,
            copy_function=link_or_copy,
            dirs_exist_ok=True,
        )
    except shutil.Error:
        # copytree folds every failure into one list of strings; the first
        # one, with its errno (a full disk), is what to report.
        if failures:
            raise failures[0] from None
        raise


def _swap(staging: Path, target: Path) -> None:
    cwd = _working_directory()
    inside = cwd is not None and (cwd == target or target in cwd.parents)
    backup = None
    if target.exists():
        backup = _sibling(target, _OLD)
        os.rename(target, backup)
    try:
        os.rename(staging, target)
    except BaseException as error:
        if backup is not None:
            try:
                os.rename(backup, target)
            except OSError as restore:
                raise OSError(
                    f"directory={str(target)!r}: the new copy could not be "
                    f"renamed into place ({error}) nor the old one back "
                    f"({restore}); the old one is intact at {backup}"
                ) from error
        raise
    if inside:
        with contextlib.suppress(OSError):
            os.chdir(target / cwd.relative_to(target))
    _fsync_folder(target.parent)
    if backup is not None:
        _remove_backup(backup)


def _remove_backup(backup: Path) -> None:
    try:
        shutil.rmtree(backup)
    except OSError as error:
        # The new directory is in place and complete; the old copy's name is
        # unique and hidden, and the next save of this directory removes it.
        warnings.warn(
            f"{backup}: the replaced directory could not be removed ({error}); "
            "the next save removes it",
            RuntimeWarning,
            stacklevel=3,
        )


def _sweep_leftovers(target: Path) -> None:
    """Remove what an interrupted save of `target` (a killed process) left."""
    prefix = f".{target.name}."
    with contextlib.suppress(OSError):
        for entry in target.parent.iterdir():
            name = entry.name
            # An .old copy is only ever the previous state of a target that
            # is in place again; without the target it may be the only copy.
            done = (_NEW, _OLD) if target.is_dir() else (_NEW,)
            if name.startswith(prefix) and name.endswith(done):
                middle = name[len(prefix) : -4]
                if len(middle) == 8 and all(c in "0123456789abcdef" for c in middle):
                    shutil.rmtree(entry, ignore_errors=True)


def _working_directory() -> Path | None:
    try:
        return Path.cwd().resolve()
    except OSError:
        return None
