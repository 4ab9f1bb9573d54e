"""The import rules of the layout (README "Layout"), read from the source's AST.

Every `import` and `from ... import` is counted, at module level or inside a
function, so a lazy import cannot hide a broken rule.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "distil_explorer"

# folder (or module) -> imports it must never make (prefixes of module names)
RULES = {
    "views": ("distil_explorer.model", "keras", "torch", "jax", "tensorflow"),
    "model": (
        "distil_explorer.runtime",
        "distil_explorer.analysis",
        "distil_explorer.views",
        "distil_explorer.session",
        "ipywidgets",
        "anywidget",
        "matplotlib",
    ),
    "analysis": ("keras", "torch", "jax", "tensorflow", "ipywidgets", "matplotlib"),
    "config.py": ("keras", "torch", "distil_explorer"),
    "checks.py": ("keras", "torch", "distil_explorer"),
    "session.py": ("ipywidgets", "anywidget", "matplotlib", "distil_explorer.views"),
    "weights": ("distil_explorer.views", "ipywidgets", "matplotlib"),
    "runtime": ("distil_explorer.views", "ipywidgets", "matplotlib"),
    # The API and the numpy Attribution; gradients live in model/gradients.py.
    "attribution.py": (
        "distil_explorer.views",
        "distil_explorer.session",
        "ipywidgets",
        "matplotlib",
        "torch",
        "jax",
        "captum",
    ),
    # Corpus statistics: a driver with no widget (the Corpus tab draws them).
    "corpus.py": ("distil_explorer.views", "ipywidgets", "anywidget", "matplotlib"),
    "corpus_texts.py": ("keras", "torch", "distil_explorer.views", "ipywidgets"),
    "corpus_file.py": ("keras", "torch", "distil_explorer.views", "ipywidgets"),
    # Task heads (issue 28): models and drivers with no widget; results numpy.
    "tasks": ("distil_explorer.views", "distil_explorer.session", "ipywidgets"),
    "tasks/results.py": ("keras", "torch", "jax", "tensorflow", "distil_explorer"),
}


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in `path`, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            found.append((node.lineno, module))
            # `from distil_explorer import model` imports the subpackage.
            found += [(node.lineno, f"{module}.{a.name}") for a in node.names]
    return found


def files_under(rule: str) -> list[Path]:
    target = PACKAGE / rule
    return [target] if target.suffix == ".py" else sorted(target.rglob("*.py"))


@pytest.mark.parametrize("rule", sorted(RULES))
def test_no_module_breaks_the_import_rules(rule):
    broken = []
    for path in files_under(rule):
        for line, module in imports_of(path):
            for banned in RULES[rule]:
                if module == banned or module.startswith(banned + "."):
                    broken.append(f"{path.relative_to(PACKAGE)}:{line} {module}")
    assert not broken, f"{rule} must not import {RULES[rule]}: {broken}"


def test_the_scan_sees_lazy_and_relative_imports(tmp_path):
    # The rule test above is only as good as this reader.
    source = PACKAGE / "views" / "_probe_for_test.py"
    source.write_text("def f():\n    import keras\n    from ..model import backbone\n")
    try:
        modules = [m for _, m in imports_of(source)]
    finally:
        source.unlink()
    assert "keras" in modules and "distil_explorer.model" in modules
