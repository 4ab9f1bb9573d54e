"""The README's two commands must stay true; CI runs the test command verbatim."""

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]


def _commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section, flags=re.S)


def test_readme_has_exactly_two_commands():
    commands = _commands()
    assert len(commands) == 2
    assert all("\n" not in c for c in commands)
    assert commands[0].endswith("distil-explorer lab")
    assert commands[1].endswith("python -m pytest")


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _commands()[1] in ci


def test_torch_is_installed_first_in_both_commands():
    for command in _commands():
        installs = re.findall(r"pip install ([^&]+)", command)
        assert installs[0].strip() == "torch==2.13.0"


def test_the_lab_command_opens_the_quickstart_notebook():
    from distil_explorer._internal.workspace import COURSE_NOTEBOOKS, QUICKSTART

    assert COURSE_NOTEBOOKS / QUICKSTART == ROOT / "notebooks" / "00_quickstart.ipynb"
    assert (COURSE_NOTEBOOKS / QUICKSTART).is_file()


def test_readme_is_a_front_page_whose_links_resolve():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 160, "the reference belongs in docs/"
    links = re.findall(r"\]\(([^)#]+)\)", readme)
    assert any(link.startswith("docs/") for link in links)
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, missing


def test_docs_link_only_to_files_that_exist():
    for page in (ROOT / "docs").glob("*.md"):
        for link in re.findall(r"\]\(([^)#:]+)\)", page.read_text()):
            assert (page.parent / link).exists(), f"{page.name}: {link}"
