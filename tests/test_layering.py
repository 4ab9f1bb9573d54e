"""The house rules of the layout (README "Layout"), read from the source's AST.

Every `import` and `from ... import` is counted, at module level or inside a
function, so a lazy import cannot hide a broken rule. Each rule is also run on
a planted violation in `tmp_path`, so a reader that stopped seeing imports
would fail here rather than pass everything.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "distil_explorer"

# folder (or module) -> imports it must never make (prefixes of module names)
WIDGETS = ("ipywidgets", "anywidget", "matplotlib")
FRAMEWORKS = ("keras", "torch", "jax", "tensorflow")
RULES = {
    "config.py": ("keras", "torch", "distil_explorer"),
    "checks.py": ("keras", "torch", "distil_explorer"),
    "errors.py": ("distil_explorer", *FRAMEWORKS),
    "_internal": ("distil_explorer.model", *FRAMEWORKS, *WIDGETS),
    # Weights never import the model: it passes them what they need.
    "weights": ("distil_explorer.model", "distil_explorer.views", *WIDGETS),
    "model": (
        "distil_explorer.runtime",
        "distil_explorer.analysis",
        "distil_explorer.views",
        "distil_explorer.session",
        "distil_explorer.corpus",
        "distil_explorer.attribution",
        "distil_explorer.mixing",
        "distil_explorer.causal",
        *WIDGETS,
    ),
    "trace": ("distil_explorer.views", "distil_explorer.session", *WIDGETS),
    "analysis": (*FRAMEWORKS, "distil_explorer.model", *WIDGETS),
    "runtime": ("distil_explorer.views", "distil_explorer.session", *WIDGETS),
    "attribution": (
        "distil_explorer.views",
        "distil_explorer.session",
        "torch",
        "jax",
        "captum",
        *WIDGETS,
    ),
    "corpus": ("distil_explorer.views", "distil_explorer.session", *WIDGETS),
    # Drivers with numpy results: keras only for the backend's name; the
    # backend work is in model/context_mixing.py and model/interventions.py.
    "mixing": (
        "distil_explorer.views",
        "distil_explorer.session",
        "torch",
        "jax",
        *WIDGETS,
    ),
    "causal": (
        "distil_explorer.views",
        "distil_explorer.session",
        "torch",
        "jax",
        *WIDGETS,
    ),
    "session": ("distil_explorer.views", *WIDGETS),
    "views": ("distil_explorer.model", *FRAMEWORKS),
    # Task heads (issue 28): models and drivers with no widget; results numpy.
    "tasks": ("distil_explorer.views", "distil_explorer.session", *WIDGETS),
    "tasks/results.py": (*FRAMEWORKS, "distil_explorer"),
}
# Features and infrastructure that must be folders, not top-level modules.
FOLDERS = (
    "_internal",
    "trace",
    "session",
    "corpus",
    "attribution",
    "mixing",
    "causal",
    "tasks",
)
MAX_LINES = 400
# Modules allowed over MAX_LINES, each with the reason it is one piece.
LONG_MODULES: dict[str, str] = {}
MAX_JS_FUNCTION_LINES = 120
LONG_JS_FUNCTIONS: dict[str, str] = {}


def imports_of(path: Path, root: Path = PACKAGE) -> list[tuple[int, str]]:
    """(line, module) for every import in `path`, relative ones resolved.

    `from a import b` counts as importing `a` and `a.b` (b may be a module).
    Imports under `if TYPE_CHECKING:` are left out: they never run.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    parts = path.relative_to(root.parent).with_suffix("").parts
    package = ".".join(parts[:-1])
    skipped = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{a.name}") for a in node.names]
    return found


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def files_under(rule: str, root: Path = PACKAGE) -> list[Path]:
    target = root / rule
    if target.suffix == ".py":
        return [target] if target.exists() else []
    return sorted(target.rglob("*.py"))


def broken_rules(root: Path = PACKAGE) -> list[str]:
    broken = []
    for rule, banned in RULES.items():
        for path in files_under(rule, root):
            for line, module in imports_of(path, root):
                if any(module == b or module.startswith(b + ".") for b in banned):
                    broken.append(f"{path.relative_to(root)}:{line} {module}")
    return broken


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the package's modules it imports (packages resolved to their
    __init__ only when no submodule of that name exists)."""
    paths = sorted(root.rglob("*.py"))
    names = {module_name(p, root) for p in paths}
    graph: dict[str, set[str]] = {}
    for path in paths:
        me = module_name(path, root)
        targets = set()
        for _, module in imports_of(path, root):
            # The longest prefix that is a module of the package.
            while module and module not in names:
                module = module.rpartition(".")[0]
            if module and module != me and module != root.name:
                targets.add(module)
        graph[me] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            # A package's __init__ re-exporting its own modules is no cycle.
            members = [m for m in component if not _inits_own(m, component, graph)]
            if len(members) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _inits_own(module: str, component: list[str], graph: dict[str, set[str]]) -> bool:
    """`module` is a package whose only ties to `component` are its own children."""
    children = [m for m in component if m.startswith(module + ".")]
    return bool(children) and all(
        m.startswith(module + ".") for m in graph[module] if m in component
    )


def private_imports(root: Path = PACKAGE) -> list[str]:
    """`from x import _name` across modules (an underscore package is fine)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or node.level):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        found.append(
                            f"{path.relative_to(root)}:{node.lineno} {alias.name}"
                        )
    return found


def exceptions_outside_errors(root: Path = PACKAGE) -> list[str]:
    """Public exception classes defined anywhere but errors.py."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "errors.py" and path.parent == root:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ClassDef)
                and not node.name.startswith("_")
                and any(
                    re.search(r"(Error|Exception)$", ast.unparse(b)) for b in node.bases
                )
            ):
                found.append(f"{path.relative_to(root)}:{node.lineno} {node.name}")
    return found


def long_modules(root: Path = PACKAGE) -> list[str]:
    return [
        f"{p.relative_to(root)} ({n} lines)"
        for p in sorted(root.rglob("*.py"))
        if (n := len(p.read_text().splitlines())) > MAX_LINES
        and str(p.relative_to(root)) not in LONG_MODULES
    ]


def long_js_functions(root: Path = PACKAGE) -> list[str]:
    """JS functions (by brace matching from each `function` or arrow with a
    block) longer than MAX_JS_FUNCTION_LINES."""
    found = []
    start = re.compile(r"(function\b[^(]*\([^)]*\)\s*\{|=>\s*\{)")
    for path in sorted(root.rglob("*.js")):
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            if not start.search(line):
                continue
            depth, end = 0, number
            for end in range(number, len(lines)):
                depth += lines[end].count("{") - lines[end].count("}")
                if depth <= 0 and end > number:
                    break
            name = f"{path.relative_to(root)}:{number + 1}"
            if (
                end - number + 1 > MAX_JS_FUNCTION_LINES
                and name not in LONG_JS_FUNCTIONS
            ):
                found.append(f"{name} ({end - number + 1} lines)")
    return found


# --- the rules, on the package ---


def test_no_module_breaks_the_import_rules():
    assert not broken_rules(), broken_rules()


def test_no_import_cycles():
    assert not cycles(import_graph()), cycles(import_graph())


def test_no_private_name_is_imported_across_modules():
    assert not private_imports(), private_imports()


def test_every_public_exception_lives_in_errors():
    assert not exceptions_outside_errors(), exceptions_outside_errors()


def test_features_and_infrastructure_are_folders():
    for name in FOLDERS:
        assert (PACKAGE / name / "__init__.py").is_file(), name
        assert not (PACKAGE / f"{name.lstrip('_')}.py").exists(), name


def test_no_module_is_over_the_size_limit():
    assert not long_modules(), long_modules()


def test_no_js_function_is_over_the_size_limit():
    assert not long_js_functions(), long_js_functions()


# --- each rule fails on a planted violation ---


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    root = tmp_path / "distil_explorer"
    for folder in ("", "weights", "model", "views", "trace"):
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / "__init__.py").write_text("")
    return root


def test_the_scan_sees_lazy_relative_and_aliased_imports(planted):
    source = planted / "views" / "probe.py"
    source.write_text("def f():\n    import keras\n    from ..model import backbone\n")
    modules = [m for _, m in imports_of(source, planted)]
    assert "keras" in modules and "distil_explorer.model" in modules


def test_a_planted_layer_violation_is_found(planted):
    (planted / "weights" / "loading.py").write_text(
        "def load():\n    from distil_explorer.model.initialization import skip\n"
    )
    assert any("weights/loading.py" in b for b in broken_rules(planted))


def test_a_planted_cycle_is_found(planted):
    (planted / "trace" / "value.py").write_text(
        "from distil_explorer.trace import file\n"
    )
    (planted / "trace" / "file.py").write_text(
        "def read():\n    from distil_explorer.trace.value import Trace\n"
    )
    found = cycles(import_graph(planted))
    assert ["distil_explorer.trace.file", "distil_explorer.trace.value"] in found


def test_a_package_reexporting_its_modules_is_no_cycle(planted):
    (planted / "trace" / "__init__.py").write_text(
        "from distil_explorer.trace.value import Trace\n"
    )
    (planted / "trace" / "value.py").write_text("import numpy\n")
    (planted / "model" / "user.py").write_text(
        "from distil_explorer.trace import Trace\n"
    )
    assert cycles(import_graph(planted)) == []


def test_a_planted_private_import_and_stray_exception_are_found(planted):
    (planted / "views" / "a.py").write_text(
        "from distil_explorer.views.b import _helper\n"
        "class OddError(ValueError):\n    pass\n"
    )
    assert any("_helper" in p for p in private_imports(planted))
    assert any("OddError" in e for e in exceptions_outside_errors(planted))


def test_planted_long_module_and_js_function_are_found(planted):
    (planted / "model" / "big.py").write_text("x = 1\n" * (MAX_LINES + 1))
    body = "\n".join(["  x += 1;"] * (MAX_JS_FUNCTION_LINES + 1))
    (planted / "views" / "big.js").write_text(f"function f(x) {{\n{body}\n}}\n")
    assert any("big.py" in m for m in long_modules(planted))
    assert any("big.js" in f for f in long_js_functions(planted))
