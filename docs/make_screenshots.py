"""Regenerate the README's screenshots from the browser tests (never by hand).

    PYTHONPATH=. python docs/make_screenshots.py [--figures]

Runs the browser tests that photograph the explorer as a person uses it,
with the variables that make them write the README's pictures:
`docs/screenshot.png` (tests/ui/test_browser.py, the quickstart in
JupyterLab after a run) and `docs/head_view.png` (tests/ui/test_head_view.py).
With --figures it also photographs every panel's matplotlib figures at
1600 x 1000 (tests/ui/figure_screenshots.py) into tests/ui/artifacts/figures,
for judging legibility. Needs Chromium (see tests/ui/conftest.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOTS = {
    "DISTIL_EXPLORER_SCREENSHOT": (
        ROOT / "docs" / "screenshot.png",
        "tests/ui/test_browser.py::test_quickstart_runs_and_the_canvas_follows_head_changes",
        "jupyterlab",  # the README's picture is JupyterLab's
    ),
    "DISTIL_EXPLORER_HEAD_VIEW": (
        ROOT / "docs" / "head_view.png",
        "tests/ui/test_head_view.py",
        "",
    ),
}


def main(figures: bool = False) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for variable, (target, tests, keyword) in SHOTS.items():
        command = [sys.executable, "-m", "pytest", tests, "-q", "-x"]
        if keyword:
            command += ["-k", keyword]
        done = subprocess.run(command, cwd=ROOT, env={**env, variable: str(target)})
        if done.returncode:
            return done.returncode
        print(f"wrote {target.relative_to(ROOT)}")
    if figures:
        script = ROOT / "tests" / "ui" / "figure_screenshots.py"
        return subprocess.run(
            [sys.executable, str(script)], cwd=ROOT, env=env
        ).returncode
    return 0


if __name__ == "__main__":
    sys.exit(main(figures="--figures" in sys.argv[1:]))
