"""Browser tests: a JupyterLab server and headless Chromium, started and stopped here.

`lab_server` runs JupyterLab from this venv (so the kernel is this venv's
python, with distil_explorer importable) on 127.0.0.1, a free port and a
random token, with Jupyter's config, data and runtime folders in a temporary
directory; it always stops the server and its kernels. `chromium` drives
Debian's /usr/bin/chromium through Python playwright (`playwright install`
cannot download a browser here). benchmarks/browser_redraw.py uses both.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
WAIT_MS = 60_000
# attention.js's model view: LABEL + index * (THUMB + GAP) + THUMB / 2, CSS px.
LABEL, THUMB, GAP = 28, 48, 6
# The "Jupyter news" prompt fetches from the network and covers the page corner.
_PAGE_CONFIG = {
    "disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}
}
# Start the notebook's preferred kernel without asking: a "Select Kernel"
# dialog would otherwise stop a Run All sent before the kernel is up.
_USER_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"autoStartDefaultKernel": True},
}


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not found (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (the dev extra)"
    return None


@dataclass(frozen=True)
class LabServer:
    """A running JupyterLab: `url(path)` adds the token."""

    base: str
    token: str
    root_dir: Path
    log: Path

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}{path}{sep}token={self.token}"

    def api(self, path: str, method: str = "GET") -> dict:
        request = urllib.request.Request(
            f"{self.base}api/{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            body = response.read()
        return json.loads(body) if body else {}


def _wait_ready(process: subprocess.Popen, runtime: Path, token: str, log: Path):
    deadline = time.monotonic() + 60
    info_file = runtime / f"jpserver-{process.pid}.json"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"jupyter lab exited ({process.returncode}):\n{log.read_text()}"
            )
        if info_file.exists():
            with contextlib.suppress(ValueError, OSError):
                info = json.loads(info_file.read_text())
                base = f"http://127.0.0.1:{info['port']}/"
                server = LabServer(base, token, Path(info["root_dir"]), log)
                server.api("status")
                return server
        time.sleep(0.2)
    raise TimeoutError(f"jupyter lab not ready in 60 s:\n{log.read_text()}")


def _stop(process: subprocess.Popen, server: LabServer | None) -> None:
    if server is not None:  # shuts kernels down cleanly, then the server
        with contextlib.suppress(OSError, urllib.error.URLError):
            server.api("shutdown", method="POST")
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    # The server and its kernels share the process group started for it.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
        time.sleep(0.5)
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


@contextlib.contextmanager
def lab_server(root_dir: Path) -> Iterator[LabServer]:
    """JupyterLab serving `root_dir`, stopped (with its kernels) on exit."""
    with tempfile.TemporaryDirectory(prefix="distil-lab-") as tmp:
        home = Path(tmp)
        config = home / "config"
        (config / "labconfig").mkdir(parents=True)
        (config / "labconfig" / "page_config.json").write_text(json.dumps(_PAGE_CONFIG))
        for name, values in _USER_SETTINGS.items():
            settings = config / "lab" / "user-settings" / f"{name}.jupyterlab-settings"
            settings.parent.mkdir(parents=True)
            settings.write_text(json.dumps(values))
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(config),
            "JUPYTER_DATA_DIR": str(home / "data"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "IPYTHONDIR": str(home / "ipython"),
            "JUPYTER_PLATFORM_DIRS": "1",
        }
        token = secrets.token_hex(16)
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            "--ServerApp.port=0",
            f"--IdentityProvider.token={token}",
            "--ServerApp.open_browser=False",
            f"--ServerApp.root_dir={root_dir}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            "--ServerApp.terminals_enabled=False",
        ]
        if os.geteuid() == 0:  # CI and these machines run as root
            command.append("--allow-root")
        log = home / "server.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                command,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        server = None
        try:
            server = _wait_ready(process, home / "runtime", token, log)
            yield server
        finally:
            _stop(process, server)


@contextlib.contextmanager
def chromium(**context_options):
    """A playwright browser context on Debian's Chromium, closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(**context_options)
            yield context
        finally:
            browser.close()


def cell_center(layer: int, head: int) -> dict[str, float]:
    """Where the thumbnail of (`layer`, `head`) sits in the "All heads" canvas."""
    return {
        "x": LABEL + head * (THUMB + GAP) + THUMB / 2,
        "y": LABEL + layer * (THUMB + GAP) + THUMB / 2,
    }


def open_and_run_all(page, url: str) -> None:
    """Open the notebook and Run All from the menu, as a person would."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(url)
    # The status bar reads "<kernel> | Idle" once the kernel is connected. The
    # toolbar's execution indicator reads "idle" earlier, before any kernel
    # exists, and a Run All sent then runs nothing.
    page.wait_for_function(
        """() => {
          const text = document.querySelector("#jp-main-statusbar")?.innerText ?? "";
          return /\\| Idle/.test(text) && !text.includes("No Kernel");
        }""",
        timeout=WAIT_MS,
    )
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    with contextlib.suppress(PlaywrightTimeout):  # a kernel chooser, should one show
        page.locator(".jp-Dialog button", has_text="Select").click(timeout=1000)


@pytest.fixture
def needs_browser():
    """Skip where Chromium or playwright is missing; fail instead under CI,
    whose .ci/run installs Chromium (a skip there would hide a broken install)."""
    reason = browser_missing()
    if reason and os.environ.get("CI"):
        pytest.fail(f"CI is set but {reason}")
    if reason:
        pytest.skip(reason)
