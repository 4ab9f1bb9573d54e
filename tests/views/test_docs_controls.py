"""Docs that cannot drift: every control named in bold in the README, a page
of docs/ or a notebook's markdown is on screen in the explorer.

On screen means: in the displayed widget tree (tab titles, descriptions of
buttons and fields, option labels of menus and toggles) or a label of the
attention canvas's own bar (read from its JS). A bold phrase that reads like
a control name (up to four words, capitalised, no digits, commas or code)
must be one; plain emphasis of that shape is listed in EMPHASIS.
"""

import json
import re
from pathlib import Path

import ipywidgets as w

ROOT = Path(__file__).parents[2]
STATIC = ROOT / "distil_explorer" / "views" / "static"
# Bold that names no control: a figure's parts in the notebooks' prose.
EMPHASIS = {"A bright first column", "Right"}


def _docs() -> dict[str, str]:
    texts = {"README.md": (ROOT / "README.md").read_text()}
    for path in sorted((ROOT / "docs").glob("*.md")):
        texts[f"docs/{path.name}"] = path.read_text()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        markdown = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
        texts[path.name] = "\n".join(markdown)
    return texts


def _control_names(text: str) -> set[str]:
    names = set()
    for phrase in re.findall(r"\*\*([^*\n]+)\*\*", text):
        phrase = phrase.strip()
        if (
            len(phrase.split()) <= 4
            and phrase[0].isupper()
            and not re.search(r"[0-9,`.]", phrase.replace("(", "").replace(")", ""))
            and phrase not in EMPHASIS
        ):
            names.add(phrase)
    return names


def _displayed(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _displayed(child)


def _on_screen(app) -> set[str]:
    names = set()
    for widget in _displayed(app):
        if isinstance(widget, w.Tab):
            names.update(widget.get_title(i) for i in range(len(widget.children)))
        if getattr(widget, "description", ""):
            names.add(widget.description)
        if isinstance(widget, (w.Dropdown, w.ToggleButtons, w.SelectMultiple)):
            names.update(str(label) for label in widget._options_labels)
    bar = "\n".join(path.read_text() for path in sorted(STATIC.glob("*.js")))
    names.update(re.findall(r"<button data-[a-z]+=\"[^\"]*\">([^<]+)</button>", bar))
    names.update(re.findall(r'\["[a-z_]+", "([^"]+)"\]', bar))  # AGGREGATES
    return {name.strip() for name in names}


def test_the_parsers_find_what_a_person_reads(app):
    app.build()
    app.run()
    shown = _on_screen(app)
    for name in ("Run", "Keep this run as A", "Model view (all heads)", "Heatmap"):
        assert name in shown
    assert _control_names("Press **Run**, not **not this**, **Depth 0**.") == {"Run"}
    assert "All heads" in _control_names("Switch to **All heads** and click")


def test_every_bold_control_in_the_docs_is_on_screen(app):
    app.build()
    app.run()
    shown = _on_screen(app)
    missing = {
        name: doc
        for doc, text in _docs().items()
        for name in _control_names(text)
        if name not in shown
    }
    assert missing == {}


def test_the_explorer_page_lists_every_tab_and_every_exportable_view():
    # docs/explorer.md describes the tabs and the export picker; both come
    # from views/registry.py, so a new tab or view without its words fails.
    from distil_explorer.views.registry import TABS, VIEWS

    page = (ROOT / "docs" / "explorer.md").read_text()
    words = {8: "eight", 9: "nine", 10: "ten", 11: "eleven", 12: "twelve"}
    assert f"one widget app with {words[len(TABS)]} tabs" in page
    for tab in TABS:
        assert f"- **{tab}**:" in page, tab
    export = page[page.index("- **Export**:") :].split("\n- ")[0]
    flat = " ".join(export.split()).lower()
    for view in VIEWS:
        assert view in flat, view
