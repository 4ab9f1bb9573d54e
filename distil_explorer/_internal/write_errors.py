"""OSErrors of a write that name what the person asked to write.

A write goes to a hidden temporary name (a file's `.name.1a2b3c4d.part`, a
directory's `.name.1a2b3c4d.new` copy) and is renamed into place; a failure
on the way (a full disk) must name the file or directory asked for, never
the temporary one, which is gone by the time anyone reads the message.
"""

from __future__ import annotations

import os
from pathlib import Path


def naming_file(error: OSError, target: Path) -> OSError:
    """The same kind of OSError, naming `target` rather than a temporary file.

    Examples:
    ```python
    naming_file(OSError(28, "No space left on device"), Path("out.json"))
    ```
    """
    why = error.strerror or str(error)
    named = type(error)(
        f"path={str(target)!r}: could not be written ({why}); the file is unchanged"
    )
    # Only errno: a `filename` would make str() print numpy-style "[Errno]".
    named.errno = error.errno
    named.target, named.reason = target, why
    return named


def naming_directory(
    error: OSError, staging: Path, target: Path, given: str | os.PathLike
) -> OSError | None:
    """The same kind of OSError, naming the directory asked for rather than
    the hidden staging copy it was rebuilt in; None when `error` is not about
    a file in the staging copy.

    Examples:
    ```python
    naming_directory(error, Path(".preset.1a2b3c4d.new"), Path("preset"), "preset")
    ```
    """
    file = getattr(error, "target", None) or error.filename
    inside = file is not None and Path(file).is_relative_to(staging)
    if not inside and str(staging) not in str(error):
        return None
    why = getattr(error, "reason", None) or error.strerror or str(error)
    why = why.replace(str(staging), str(target))
    if inside:
        why = f"{why}, writing {Path(file).relative_to(staging).as_posix()}"
    named = type(error)(
        f"directory={str(given)!r}: could not be written ({why}); the directory "
        "is unchanged"
    )
    named.errno = error.errno
    return named
