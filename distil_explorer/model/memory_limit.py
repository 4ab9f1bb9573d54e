"""What this process can still get, and the cap a user may set on it.

The least of: the memory the system still has (`MemAvailable` in
/proc/meminfo), the container's (a cgroup's limit less its usage), the
address space `RLIMIT_AS` leaves (the soft limit less the process's
`VmSize`), and a limit the user sets (`set_memory_limit`). Each check reads
them afresh (about 45 us, mostly the kernel writing /proc/meminfo), so it
sees what other processes took since. `model.memory` compares its estimates
with this; neither imports a framework. Where none is known (no /proc, no
limit) nothing is refused up front, and allocation failures still become
`NotEnoughMemoryError`.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

try:
    import resource
except ImportError:  # Windows: no RLIMIT_AS to read
    resource = None

_UNITS = {"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12}
_UNITS.update({"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40})
_limit: int | None = None


def set_memory_limit(limit: int | str | None) -> None:
    """Cap what any one capture, corpus batch or attribution may hold.

    Work estimated above the cap (or above what the machine can give, if
    less) raises `NotEnoughMemoryError` before it allocates. The cap is this
    process's; a capture on another backend is checked here before it is
    sent to its worker.

    Args:
        limit: int bytes, a str such as "2 GB" or "512 MiB", or None to
            check against what the machine can give only.

    Examples:
    ```python
    import distil_explorer as de
    de.set_memory_limit("4 GB")
    de.set_memory_limit(None)
    ```
    """
    global _limit
    _limit = _parsed_size("limit", limit)


def memory_limit() -> int | None:
    """The cap `set_memory_limit` set, in bytes, or None."""
    return _limit


def available_memory() -> tuple[int | None, str]:
    """(bytes this process can still get, where that bound comes from).

    The least of MemAvailable, the cgroup's headroom, the RLIMIT_AS
    headroom and `memory_limit()`; (None, "") where none of them is known.

    Examples:
    ```python
    available_memory()  # (23684000000, "the system's free memory, MemAvailable")
    ```
    """
    bounds = [
        (_meminfo("MemAvailable"), "the system's free memory, MemAvailable"),
        (_cgroup_headroom(), "the container's memory limit"),
        (_address_space_headroom(), "the RLIMIT_AS address-space limit"),
        (_limit, "the limit given to set_memory_limit"),
    ]
    known = [(size, source) for size, source in bounds if size is not None]
    return min(known, default=(None, ""))


def size_text(size: float) -> str:
    """Bytes for a person: '3.4 GB', '75 MB', '12 kB' (powers of 1000).

    Examples:
    ```python
    size_text(3_400_000_000)  # '3.4 GB'
    ```
    """
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            value = size / scale
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{int(size)} bytes"


def _parsed_size(name: str, value: Any) -> int | None:
    if value is None:
        return None
    allowed = 'allowed: an int of bytes > 0, a str such as "2 GB" or "512 MiB", or None'
    if isinstance(value, str):
        found = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", value)
        unit = found.group(2).lower() if found else ""
        if not found or unit not in _UNITS:
            raise ValueError(f"{name}={value!r}: not a size; {allowed}")
        value = float(found.group(1)) * _UNITS[unit]
        if not math.isfinite(value):
            raise ValueError(f"{name}={value!r}: {allowed}")
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name}={value!r}: {allowed}")
    return value


def _meminfo(field: str, path: str = "/proc/meminfo") -> int | None:
    """A `field:  N kB` line of a /proc file, in bytes (a few us: read raw)."""
    try:
        with open(path, "rb") as f:
            found = re.search(rb"^%s:\s+(\d+)" % field.encode(), f.read(), re.M)
    except OSError:
        return None
    return None if found is None else int(found.group(1)) * 1024


def _cgroup_headroom() -> int | None:
    """The container's memory limit less its usage, or None without a limit."""
    files = _cgroup_files()
    if files is None:
        return None
    try:
        return _read_int(files[0]) - _read_int(files[1])
    except (OSError, ValueError):
        return None


@functools.cache
def _cgroup_files() -> tuple[str, str] | None:
    """(limit, usage) files of a cgroup (v2, else v1) that has a limit, or None.

    Found once per process: a container's limit does not come and go.
    """
    for limit, usage in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            if _read_int(limit) < 1 << 60:  # v1 writes "no limit" as ~2**63
                return limit, usage
        except ValueError:  # v2's "max": no limit
            return None
        except OSError:
            continue
    return None


def _read_int(path: str) -> int:
    with open(path, "rb") as f:
        return int(f.read())


def _address_space_headroom() -> int | None:
    if resource is None:
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    used = _meminfo("VmSize", "/proc/self/status")
    return None if used is None else soft - used
