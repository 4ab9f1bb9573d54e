"""Peak resident memory of one piece of work, each in a fresh process.

A process's peak RSS (`ru_maxrss`) only ever grows, so two runs compared in
one process would hide the smaller one: every measurement re-runs the
calling script in its own interpreter with `--measure NAME`, and the child
prints its peak as its last line.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys

_MARK = "peak_rss_mb="


def peak_rss_mb(script: str, name: str, *args: str, timeout: float = 600) -> float:
    """Run `script --measure name *args` in a fresh interpreter; its peak RSS in MB."""
    done = subprocess.run(
        [sys.executable, script, "--measure", name, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": _repository(script)},
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{name}: the measuring process failed:\n{done.stderr[-3000:]}"
        )
    last = done.stdout.strip().splitlines()[-1]
    if not last.startswith(_MARK):
        raise RuntimeError(f"{name}: no peak printed; output ended {last!r}")
    return float(last.removeprefix(_MARK))


def print_peak_rss() -> None:
    """Print this process's peak RSS, in MB, as the last line (Linux: kB units)."""
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{_MARK}{peak_kb / 1024:.1f}", flush=True)


def _repository(script: str) -> str:
    root = os.path.dirname(os.path.dirname(os.path.abspath(script)))
    return os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
