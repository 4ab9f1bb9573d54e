"""Browser tests: a Jupyter server and headless Chromium, started and stopped here.

`jupyter_server` runs a front end (`LAB`: JupyterLab, `NOTEBOOK`: Notebook 7)
from this venv (so the kernel is this venv's python, with distil_explorer
importable) on 127.0.0.1, a free port and a random token, with Jupyter's
config, data and runtime folders in a temporary directory; it always stops
the server and its kernels. Both front ends read the same page config and
user settings. `chromium` drives Debian's /usr/bin/chromium through Python
playwright (`playwright install` cannot download a browser here).
benchmarks/browser_*.py use both.
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
# canvas.js's layout, read from the one contract (never copied here): the
# model view's thumbnail at LABEL + index * (THUMB + GAP) + THUMB / 2, CSS px;
# ROW px per token in the lines view.
_LAYOUT = json.loads(
    (
        Path(__file__).parents[2] / "distil_explorer/views/static/contract.json"
    ).read_text()
)["layout"]
LABEL, THUMB, GAP, ROW = (_LAYOUT[k] for k in ("label", "thumb", "gap", "row"))
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
class Frontend:
    """A Jupyter front end: how it starts, where it opens a notebook, and how
    its page says that the notebook's kernel is connected and idle."""

    name: str
    module: str  # started as `python -m <module>`
    options: tuple[str, ...]
    notebook_path: str  # a notebook's URL path; "{}" is its file name
    kernel_idle: str  # JS predicate
    # Uncaught page errors of the front end itself, harmless to the widget:
    # (message, a file name in its stack).
    known_page_errors: tuple[tuple[str, str], ...] = ()
    # Whether arrow keys reach a focused ipywidgets slider in an output.
    slider_keys: bool = True

    def page_errors(self, page) -> list[str]:
        """Collects the page's uncaught errors, less this front end's known ones."""
        errors: list[str] = []

        def collect(error) -> None:
            known = any(
                str(error) == message and source in (error.stack or "")
                for message, source in self.known_page_errors
            )
            if not known:
                errors.append(f"{error}\n{error.stack}")

        page.on("pageerror", collect)
        return errors


LAB = Frontend(
    name="JupyterLab",
    module="jupyterlab",
    options=(
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ),
    notebook_path="lab/tree/{}",
    # The status bar reads "<kernel> | Idle" once the kernel is connected. The
    # toolbar's execution indicator reads "idle" earlier, before any kernel
    # exists, and a Run All sent then runs nothing.
    kernel_idle="""() => {
      const text = document.querySelector("#jp-main-statusbar")?.innerText ?? "";
      return /\\| Idle/.test(text) && !text.includes("No Kernel");
    }""",
)
NOTEBOOK = Frontend(
    name="Notebook 7",
    module="notebook",
    options=(),
    notebook_path="notebooks/{}",
    # No status bar: the toolbar names the kernel once the notebook has one
    # ("No Kernel" before), and its execution indicator then reads "idle".
    kernel_idle="""() => {
      const name = document.querySelector(".jp-Toolbar-kernelName")?.innerText ?? "";
      const state = document.querySelector(".jp-Notebook-ExecutionIndicator");
      return /\\S/.test(name) && !name.includes("No Kernel")
        && state?.dataset.status === "idle";
    }""",
    # jupyter/notebook#7862: a race in Notebook 7's shortcuts plugin, at page
    # load, before any cell runs. Known only with this message from this file.
    known_page_errors=(
        ("Cannot read properties of undefined (reading 'schema')", "notebook_core"),
    ),
    # Notebook 7 matches shortcuts as a keydown crosses the document (capture
    # phase; JupyterLab waits for the bubble): in command mode ArrowRight runs
    # notebook:move-cursor-heading-below-or-expand, and the slider never sees it.
    slider_keys=False,
)
FRONTENDS = (LAB, NOTEBOOK)


@dataclass(frozen=True)
class JupyterServer:
    """A running Jupyter server: `url(path)` adds the token."""

    frontend: Frontend
    base: str
    token: str
    root_dir: Path
    log: Path

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}{path}{sep}token={self.token}"

    def notebook_url(self, name: str) -> str:
        """Where the front end opens the notebook `name` of `root_dir`."""
        return self.url(self.frontend.notebook_path.format(name))

    def api(self, path: str, method: str = "GET") -> dict:
        request = urllib.request.Request(
            f"{self.base}api/{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            body = response.read()
        return json.loads(body) if body else {}


def _wait_ready(process, frontend: Frontend, runtime: Path, token: str, log: Path):
    deadline = time.monotonic() + 60
    info_file = runtime / f"jpserver-{process.pid}.json"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{frontend.name} exited ({process.returncode}):\n{log.read_text()}"
            )
        if info_file.exists():
            with contextlib.suppress(ValueError, OSError):
                info = json.loads(info_file.read_text())
                base = f"http://127.0.0.1:{info['port']}/"
                root = Path(info["root_dir"])
                server = JupyterServer(frontend, base, token, root, log)
                server.api("status")
                return server
        time.sleep(0.2)
    raise TimeoutError(f"{frontend.name} not ready in 60 s:\n{log.read_text()}")


def _stop(process: subprocess.Popen, server: JupyterServer | None) -> None:
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


def _config_dir(config: Path) -> None:
    """Page config and user settings, read by JupyterLab and Notebook 7 alike."""
    (config / "labconfig").mkdir(parents=True)
    (config / "labconfig" / "page_config.json").write_text(json.dumps(_PAGE_CONFIG))
    for name, values in _USER_SETTINGS.items():
        settings = config / "lab" / "user-settings" / f"{name}.jupyterlab-settings"
        settings.parent.mkdir(parents=True)
        settings.write_text(json.dumps(values))


@contextlib.contextmanager
def jupyter_server(root_dir: Path, frontend: Frontend = LAB) -> Iterator[JupyterServer]:
    """`frontend` serving `root_dir`, stopped (with its kernels) on exit."""
    with tempfile.TemporaryDirectory(prefix="distil-jupyter-") as tmp:
        home = Path(tmp)
        _config_dir(home / "config")
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(home / "config"),
            "JUPYTER_DATA_DIR": str(home / "data"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "IPYTHONDIR": str(home / "ipython"),
            "JUPYTER_PLATFORM_DIRS": "1",
        }
        token = secrets.token_hex(16)
        command = [
            sys.executable,
            "-m",
            frontend.module,
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            "--ServerApp.port=0",
            f"--IdentityProvider.token={token}",
            "--ServerApp.open_browser=False",
            f"--ServerApp.root_dir={root_dir}",
            "--ServerApp.terminals_enabled=False",
            *frontend.options,
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
            server = _wait_ready(process, frontend, home / "runtime", token, log)
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


@contextlib.contextmanager
def page_session(
    root: Path, frontend: Frontend, name: str, viewport=(1280, 1100)
) -> Iterator:
    """(page, server) of `frontend` serving `root` at `viewport` (width,
    height): a screenshot if the body fails, and no uncaught page errors
    (less the front end's known ones) after it."""
    width, height = viewport
    with (
        jupyter_server(root, frontend) as server,
        chromium(viewport={"width": width, "height": height}) as context,
    ):
        page = context.new_page()
        page_errors = frontend.page_errors(page)
        try:
            yield page, server
        except BaseException:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=ARTIFACTS / f"failure-{name}-{frontend.module}.png")
            raise
    assert not page_errors, page_errors


def cell_center(layer: int, head: int) -> dict[str, float]:
    """Where the thumbnail of (`layer`, `head`) sits in the "All heads" canvas."""
    return {
        "x": LABEL + head * (THUMB + GAP) + THUMB / 2,
        "y": LABEL + layer * (THUMB + GAP) + THUMB / 2,
    }


def open_notebook(page, server: JupyterServer, name: str) -> None:
    """Open notebook `name` and wait until its kernel is connected and idle."""
    page.goto(server.notebook_url(name))
    page.wait_for_function(server.frontend.kernel_idle, timeout=WAIT_MS)


def open_and_run_all(page, server: JupyterServer, name: str) -> None:
    """Open notebook `name` and Run All from the menu, as a person would."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    open_notebook(page, server, name)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    with contextlib.suppress(PlaywrightTimeout):  # a kernel chooser, should one show
        page.locator(".jp-Dialog button", has_text="Select").click(timeout=1000)


# The benchmarks' hand-made base Trace (benchmarks/redraw.py: 6 layers x 12
# heads, hidden 768, random softmax attention), so no weights are needed.
_TRACE_CELL = """\
import sys, time
sys.path.insert(0, {benchmarks!r})
from redraw import base_trace
from distil_explorer.views.attention_widget import AttentionWidget

trace = base_trace({length})"""
OPEN_CELL = """\
start = time.perf_counter()
widget = AttentionWidget.from_trace(trace, mode="model")
print(f"from_trace: {1e3 * (time.perf_counter() - start):.1f} ms")
widget"""


def attention_notebook(path: Path, length: int) -> Path:
    """A notebook at `path`: a cell making a base Trace of `length` tokens,
    then `OPEN_CELL`, which shows it in model mode and prints from_trace's ms."""
    import nbformat

    benchmarks = str(Path(__file__).parents[2] / "benchmarks")
    cells = [_TRACE_CELL.format(benchmarks=benchmarks, length=length), OPEN_CELL]
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in cells]
    )
    nbformat.write(notebook, path)
    return path


@pytest.fixture
def needs_browser():
    """Skip where Chromium or playwright is missing; fail instead under CI,
    whose .ci/run installs Chromium (a skip there would hide a broken install)."""
    reason = browser_missing()
    if reason and os.environ.get("CI"):
        pytest.fail(f"CI is set but {reason}")
    if reason:
        pytest.skip(reason)


# --- the attention canvas, read back as a person and through the kernel ---

# An FNV-1a hash of a canvas's pixels, and how many are not transparent.
CANVAS_DIGEST = """(canvas) => {
  const { width, height } = canvas;
  const data = canvas.getContext("2d").getImageData(0, 0, width, height).data;
  let hash = 2166136261, inked = 0;
  for (let i = 0; i < data.length; i++) hash = Math.imul(hash ^ data[i], 16777619);
  for (let i = 3; i < data.length; i += 4) inked += data[i] > 0;
  return { width, height, inked, hash: hash >>> 0 };
}"""


@contextlib.contextmanager
def kernel_client(server: JupyterServer, timeout: float = 30) -> Iterator:
    """A second client of the server's one running kernel (its connection file
    is in the server's runtime folder), to read Python state while the page
    drives the widgets; outputs of its requests never reach the page."""
    from jupyter_client import BlockingKernelClient

    deadline = time.monotonic() + timeout
    while not (kernels := server.api("kernels")) and time.monotonic() < deadline:
        time.sleep(0.2)
    if len(kernels) != 1:
        raise RuntimeError(f"expected one running kernel, found {len(kernels)}")
    runtime = server.log.parent / "runtime"
    client = BlockingKernelClient(
        connection_file=str(runtime / f"kernel-{kernels[0]['id']}.json")
    )
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=timeout)
        yield client
    finally:
        client.stop_channels()


def kernel_value(client, expression: str, timeout: float = 30):
    """The value of `expression` in the kernel (a Python literal: its repr)."""
    import ast

    reply = client.execute(
        "",
        silent=True,
        user_expressions={"v": f"repr({expression})"},
        reply=True,
        timeout=timeout,
    )
    result = reply["content"]["user_expressions"]["v"]
    if result["status"] != "ok":
        raise RuntimeError(f"{expression}: {result.get('evalue')}")
    return ast.literal_eval(ast.literal_eval(result["data"]["text/plain"]))


def wait_kernel_value(client, expression: str, expected, timeout: float = 15):
    """Poll until `expression` equals `expected` in the kernel; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = kernel_value(client, expression)
        if value == expected or time.monotonic() > deadline:
            assert value == expected, f"{expression} = {value!r}, not {expected!r}"
            return value
        time.sleep(0.1)
