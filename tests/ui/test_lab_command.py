"""`distil-explorer lab` as a person starts it: as root, on a port, with a token.

One server for the module, started through the console script exactly as the
README says, with HOME in a temporary folder (so the default workspace
~/distil-explorer is a fresh one). The quickstart notebook is run through the
kernel's websocket and saved through the contents API (what JupyterLab's
autosave does); the repository's `git status` must not change. The server and
its kernels are stopped at the end, whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from distil_explorer._internal.workspace import COURSE_NOTEBOOKS, QUICKSTART

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(),
    reason="needs the git checkout (to check git status)",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _git_status() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _command() -> list[str]:
    script = Path(sys.executable).with_name("distil-explorer")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "distil_explorer.cli"]


class Lab:
    """The running `distil-explorer lab`: its printed URL, token and workspace."""

    def __init__(self, url: str, token: str, workspace: Path, log: Path) -> None:
        self.url, self.token, self.workspace, self.log = url, token, workspace, log
        self.git_status = ""  # of the repository, before the server started
        self.base = url.split("/lab/")[0] + "/"

    def get(self, path: str) -> tuple[int, bytes]:
        request = urllib.request.Request(
            self.base + path, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()

    def api(self, path: str, method: str = "GET", body: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.base}api/{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Authorization": f"token {self.token}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
        return json.loads(text) if text else {}


def _wait_for_url(process: subprocess.Popen, log: Path) -> str:
    deadline = time.monotonic() + 60
    pattern = re.compile(r"http://127\.0\.0\.1:\d+/\S*")
    while time.monotonic() < deadline:
        found = pattern.findall(log.read_text())
        if found:
            return found[0]
        if process.poll() is not None:
            raise AssertionError(
                f"lab exited ({process.returncode}):\n{log.read_text()}"
            )
        time.sleep(0.2)
    raise TimeoutError(f"no URL printed in 60 s:\n{log.read_text()}")


def _status_when_answering(lab: Lab, process: subprocess.Popen) -> dict:
    """The server's status once it answers: under load, the printed URL can
    come a moment before the socket takes connections."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return lab.api("status")
        except urllib.error.URLError as error:
            if process.poll() is not None or time.monotonic() > deadline:
                log = lab.log.read_text()
                raise AssertionError(f"no answer at {lab.url}:\n{log}") from error
            time.sleep(0.3)


def _stop(process: subprocess.Popen, lab: Lab | None) -> None:
    if lab is not None:  # shuts the kernels down cleanly, then the server
        with contextlib.suppress(OSError):
            lab.api("shutdown", method="POST")
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):  # the server and its kernels
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def _env(home: Path) -> dict[str, str]:
    """A fresh shell's environment: nothing of ours set, HOME in `home`."""
    env = {
        **os.environ,
        "HOME": str(home),
        "PYTHONPATH": str(ROOT),
        "JUPYTER_CONFIG_DIR": str(home / "jupyter-config"),
        "JUPYTER_DATA_DIR": str(home / "jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(home / "jupyter-runtime"),
        "IPYTHONDIR": str(home / "ipython"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "HF_HUB_OFFLINE": "1",  # the quickstart falls back to the offline preset
    }
    for name in ("DISTIL_EXPLORER_WORKSPACE", "KERAS_BACKEND"):
        env.pop(name, None)  # tests/conftest.py sets KERAS_BACKEND; a shell does not
    return env


def _start(home: Path, args: list[str]) -> tuple[subprocess.Popen, Path]:
    log = home / "lab.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*_command(), "lab", *args],
            env=_env(home),
            cwd=ROOT,  # started from the checkout, as the README's command is
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return process, log


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    token = secrets.token_hex(16)
    status_before = _git_status()
    args = ["--allow-root", "--no-browser", "--port", str(_free_port())]
    args += [f"--ServerApp.token={token}", "--ServerApp.ip=127.0.0.1"]
    args += ["--LabApp.news_url=None", "--ServerApp.terminals_enabled=False"]
    process, log = _start(home, args)
    running = None
    try:
        url = _wait_for_url(process, log)
        running = Lab(url, token, home / "distil-explorer", log)
        running.git_status = status_before
        yield running
    finally:
        _stop(process, running)
    assert _git_status() == status_before


def test_the_printed_url_is_the_notebook_and_it_is_served(lab):
    assert lab.url.split("?")[0].endswith(f"/lab/tree/{QUICKSTART}")
    status, page = lab.get(lab.url.split("?")[0].split("/", 3)[3])
    assert status == 200 and b"JupyterLab" in page
    model = lab.api(f"contents/{QUICKSTART}")
    assert model["type"] == "notebook"
    on_disk = json.loads((lab.workspace / QUICKSTART).read_text())
    assert model["content"]["cells"][1]["source"] == "".join(
        on_disk["cells"][1]["source"]
    )
    course = sorted(p.name for p in COURSE_NOTEBOOKS.glob("*.ipynb"))
    assert sorted(p.name for p in lab.workspace.glob("*.ipynb")) == course
    assert f"copied {len(course)} course notebooks" in lab.log.read_text()


def _decode(frame: str | bytes) -> dict:
    """A kernel message; widget messages with buffers come as binary frames."""
    from jupyter_server.services.kernels.connection.base import (
        deserialize_binary_message,
    )

    return (
        json.loads(frame)
        if isinstance(frame, str)
        else deserialize_binary_message(frame)
    )


async def _execute(lab: Lab, kernel_id: str, codes: list[str]) -> list[dict]:
    """Run each code on the kernel in order; one reply (status, outputs) each."""
    from tornado.websocket import websocket_connect

    ws_url = lab.base.replace("http", "ws", 1) + f"api/kernels/{kernel_id}/channels"
    connection = await websocket_connect(f"{ws_url}?token={lab.token}")
    session, replies = uuid.uuid4().hex, []
    try:
        for code in codes:
            msg_id = uuid.uuid4().hex
            header = {"msg_id": msg_id, "msg_type": "execute_request"}
            header.update(session=session, username="test", version="5.3")
            content = {"code": code, "silent": False, "store_history": True}
            content.update(user_expressions={}, allow_stdin=False, stop_on_error=True)
            message = {"header": header, "parent_header": {}, "metadata": {}}
            message.update(content=content, channel="shell")
            await connection.write_message(json.dumps(message))
            outputs, status, idle = [], None, False
            while status is None or not idle:  # the reply and the idle, any order
                reply = _decode(await asyncio.wait_for(connection.read_message(), 60))
                if reply.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = reply["msg_type"]
                if kind in ("stream", "execute_result", "display_data", "error"):
                    outputs.append({"output_type": kind, **reply["content"]})
                if kind == "execute_reply":
                    status = reply["content"]["status"]
                if kind == "status" and reply["content"]["execution_state"] == "idle":
                    idle = True
            replies.append({"status": status, "outputs": outputs})
    finally:
        connection.close()
    return replies


def test_running_and_saving_the_quickstart_writes_only_the_workspace(lab):
    repo_copy = (COURSE_NOTEBOOKS / QUICKSTART).read_bytes()
    notebook = lab.api(f"contents/{QUICKSTART}")["content"]
    session = lab.api(
        "sessions",
        method="POST",
        body={"path": QUICKSTART, "type": "notebook", "kernel": {"name": "python3"}},
    )
    cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    extra = [
        "import os; print(os.getcwd())",
        'print(de.export_view("head.svg", trace, "head", layer=0, head=0))',
    ]
    codes = [c["source"] for c in cells] + extra
    replies = asyncio.run(_execute(lab, session["kernel"]["id"], codes))
    errors = [o for r in replies for o in r["outputs"] if o["output_type"] == "error"]
    assert [r["status"] for r in replies] == ["ok"] * len(codes), errors
    cwd = replies[-2]["outputs"][0]["text"].strip()
    assert Path(cwd).resolve() == lab.workspace.resolve()
    assert (lab.workspace / "head.svg").stat().st_size > 0  # exports land here

    for cell, reply in zip(cells, replies, strict=False):
        cell["outputs"] = [
            {k: v for k, v in o.items() if k != "transient"} for o in reply["outputs"]
        ]
    saved = lab.api(  # what JupyterLab's (auto)save sends
        f"contents/{QUICKSTART}",
        method="PUT",
        body={"type": "notebook", "format": "json", "content": notebook},
    )
    assert saved["path"] == QUICKSTART
    on_disk = json.loads((lab.workspace / QUICKSTART).read_text())
    assert any(cell.get("outputs") for cell in on_disk["cells"])
    assert (COURSE_NOTEBOOKS / QUICKSTART).read_bytes() == repo_copy
    assert _git_status() == lab.git_status


def test_a_browser_opens_straight_on_the_notebook(lab, needs_browser):
    from tests.ui.conftest import chromium

    with chromium() as context:
        page = context.new_page()
        page.goto(lab.url.replace("token=...", f"token={lab.token}"))
        tab = page.locator(".jp-mod-current .lm-TabBar-tabLabel", has_text=QUICKSTART)
        tab.first.wait_for(timeout=60_000)
        assert page.locator(".jp-NotebookPanel:visible").count() == 1
        assert "Launcher" not in page.locator(".jp-mod-current").first.inner_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="checks the start as root")
def test_as_root_it_starts_without_allow_root(tmp_path):
    process, log = _start(tmp_path, ["--no-browser", "--port", str(_free_port())])
    running = None
    try:
        url = _wait_for_url(process, log)
        token = re.search(r"token=(\w+)", url)[1]  # generated, so printed
        running = Lab(url, token, tmp_path / "distil-explorer", log)
        assert _status_when_answering(running, process)["kernels"] == 0
        assert url.split("?")[0].endswith(f"/lab/tree/{QUICKSTART}")
    finally:
        _stop(process, running)
    assert "Running as root is not recommended" not in log.read_text()
