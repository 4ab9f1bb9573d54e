"""Lines of a person's UTF-8 text file, with a bad byte named by line.

Python's text mode decodes a file in 8 kB chunks, so a `UnicodeDecodeError`
gives a byte offset into whichever chunk it was in: no use to find the
byte. Decoding line by line says which line, and where in it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from distil_explorer.errors import FileFormatError


def utf8_lines(
    path: str | os.PathLike, argument: str, allowed: str
) -> Iterator[tuple[int, str]]:
    """(line number, line without its line break) for each line of `path`.

    Lines break where Python's text mode breaks them (`\\n`, `\\r\\n`, `\\r`);
    the number counts `\\n`-terminated lines from 1.

    Args:
        path: the file.
        argument: the argument that named it, for the error (`texts`).
        allowed: what the error says is allowed.

    Raises:
        FileFormatError: a line is not UTF-8; the message names the line, the
            byte and its offset within the line.

    Examples:

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.txt"
    >>> _ = path.write_bytes(b"one\\r\\ntwo\\ncaf\\xe9\\n")
    >>> try:
    ...     for number, line in utf8_lines(path, "texts", "UTF-8 text"):
    ...         print(number, line)
    ... except FileFormatError as err:
    ...     print(str(err).split(": ", 1)[1])
    1 one
    2 two
    line 3 is not UTF-8 (byte 0xe9 at byte 3 of the line: invalid continuation \
byte); allowed: UTF-8 text
    """
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise FileFormatError(
                    f"{argument}={os.fspath(path)!r}: line {number} is not UTF-8 "
                    f"(byte 0x{raw[error.start]:02x} at byte {error.start} of the "
                    f"line: {error.reason}); allowed: {allowed}",
                    path=os.fspath(path),
                ) from None
            for end in ("\r\n", "\n", "\r"):
                if line.endswith(end):
                    line = line[: -len(end)]
                    break
            for piece in line.split("\r"):
                yield number, piece
