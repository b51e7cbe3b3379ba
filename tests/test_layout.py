"""Package layout: every module imports on its own, and module-level imports form no circle.

The graph has an edge ``a -> b`` when module ``a`` of ``bayescale`` says ``from bayescale.b import
...``, ``from bayescale import b`` or ``import bayescale.b`` at module level (statements at the top
of the file, not inside a function: a lazy import inside a function does not run at import time
and does not count). ``from bayescale import name`` of a name that is not a module is an edge to
the package itself.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bayescale"

#: Circles known today, each as the sorted list of its modules; empty: the module-level graph has
#: none. Add one here only with the reason it cannot be broken, so that any new circle fails.
KNOWN_CYCLES: list[list[str]] = []


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rsplit(".", 1)[0]


def _import_statements(tree: ast.Module, *, lazy: bool) -> list[ast.Import | ast.ImportFrom]:
    """Module-level import statements; with ``lazy``, also those inside functions and methods
    (never those under ``if TYPE_CHECKING:``, which do not run)."""
    if not lazy:
        return [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    found = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph(*, lazy: bool = False) -> dict[str, set[str]]:
    """Module -> the ``bayescale`` modules it imports at module level (with ``lazy``, anywhere)."""
    modules = _modules()
    graph = {}
    for module, path in modules.items():
        targets = set()
        for node in _import_statements(ast.parse(path.read_text(), filename=str(path)), lazy=lazy):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative import: resolve against this module's package
                    package = _package_of(module, path).split(".")
                    package = package[: len(package) - (node.level - 1)]
                    base = ".".join(package + ([base] if base else []))
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.add(sub if sub in modules else base)
        graph[module] = {t for t in targets if t in modules and t != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


@pytest.mark.parametrize("module", sorted(_modules()))
def test_every_module_imports(module):
    importlib.import_module(module)


def test_module_level_imports_have_no_circle():
    found = cycles(import_graph())
    new = [c for c in found if c not in KNOWN_CYCLES]
    assert not new, f"import circle(s) among bayescale modules: {new}; import lazily or move the shared code down"


#: The only imports that point up the data flow, each from a result's convenience method to the
#: module that does the work: ``Fit.calibrate`` refits the ladder (calibrate -> comparison ->
#: inference -> fit_result) and ``Fit.report`` writes a report that compares and calibrates;
#: ``DownstreamFit.report`` writes one that checks the tasks (a refit, through ``task_check``). They
#: run at call time, inside the method; every other function-level import is to a lower module.
UPWARD_METHOD_IMPORTS = {
    ("bayescale.fit_result", "bayescale.calibrate"),
    ("bayescale.fit_result", "bayescale.report"),
    ("bayescale.downstream_fit", "bayescale.report"),
}


#: The command line and the demo sit on top of the package and may import it whole.
FRONT_ENDS = ("bayescale.cli", "bayescale.demo")


def test_function_level_imports_have_no_circle_but_the_listed_methods():
    graph = import_graph(lazy=True)
    for front_end in FRONT_ENDS:  # they use the public API, ``import bayescale as bs``, inside commands
        graph[front_end].discard("bayescale")
    for source, target in UPWARD_METHOD_IMPORTS:
        assert target in graph[source], f"{source} no longer imports {target}: remove it from UPWARD_METHOD_IMPORTS"
        graph[source].discard(target)
    found = cycles(graph)
    assert not found, f"import circle(s) through function-level imports: {found}; move the shared code down"


def test_cycle_finder_sees_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_many_and_executors_do_not_import_each_other():
    graph = import_graph()
    assert "bayescale.many" not in graph["bayescale.executors"]
    source = (PACKAGE / "executors.py").read_text()
    assert "bayescale.many" not in [n.module for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom)]


def test_import_bayescale_leaves_arviz_until_a_fit_needs_it():
    # arviz (with xarray and its plotting modules) was ~2-3.5 s of `import bayescale` and of every
    # CLI call; bayescale._arviz imports it on first use.
    code = "import sys, bayescale, bayescale.cli; print('arviz' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert shown.strip() == "False"


def test_no_public_name_shadows_a_submodule():
    """``bs.fit`` is a function and ``bayescale.fit_result`` the module of ``Fit``: never both one name."""
    import bayescale

    submodules = {module.rsplit(".", 1)[-1] for module in _modules() if module.count(".") == 1}
    shadowed = sorted(
        name for name in bayescale.__all__ if name in submodules and not inspect.ismodule(getattr(bayescale, name))
    )
    assert not shadowed, f"public names that are also submodules of bayescale: {shadowed}"


#: Modules that analyse fitted results through :class:`bayescale.results.Posterior` alone.
ANALYSIS_MODULES = ("crossovers", "grid", "multiplier", "optimal", "plots", "ranking", "report", "shapes")


@pytest.mark.parametrize("module", ANALYSIS_MODULES)
def test_analysis_code_does_not_tell_result_classes_apart(module):
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    classes = {"Fit", "DownstreamFit", "AveragedFit", "ManyFits"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id != "hasattr", f"{module}.py:{node.lineno}: hasattr on a result; use the Posterior protocol"
            if node.func.id == "isinstance" and len(node.args) == 2:
                names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
                assert not names & classes, f"{module}.py:{node.lineno}: isinstance of a result class"


def _code_lines(path: Path) -> int:
    """Lines of a module outside its docstrings (numpydoc sections are long; code should not be)."""
    source = path.read_text()
    docstrings = 0
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                docstrings += (first.end_lineno or first.lineno) - first.lineno + 1
    return source.count("\n") - docstrings


#: Modules that are mostly tables of data rather than code.
DATA_TABLES = {"bayescale.dataset_registry"}


@pytest.mark.parametrize("module", sorted(set(_modules()) - DATA_TABLES))
def test_modules_stay_a_few_hundred_lines_of_code(module):
    lines = _code_lines(_modules()[module])
    assert lines <= 500, f"{module} has {lines} lines of code besides docstrings; split it by concept"
