"""The code's shape, read from the source: no dynamic imports or import
guards in production code, no import cycles between the project's modules,
one way to queue a job, and no test that skips when a project module fails
to import."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = ("accounts", "annotate", "api", "config", "curation")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources(packages=PRODUCTION):
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            yield _module_name(path), path, ast.parse(path.read_text(), str(path))


MODULES = {name: (path, tree) for name, path, tree in _sources()}


def _imports(name: str, path: Path, tree: ast.AST) -> set[str]:
    """Every project module ``name`` imports, at module level or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import mod`` imports the module pkg.mod when there is one.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_of_the_project_has_no_cycle():
    """Imports inside functions count too: a lazy import that closes a loop is
    still a cycle (it was how curation.jobs and curation.tasks imported each other)."""
    graph = {name: _imports(name, path, tree) for name, (path, tree) in MODULES.items()}
    assert _cycles(graph) == []


def test_the_graph_sees_the_cycles_it_is_meant_to_catch():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    tree = ast.parse("def f():\n    from curation.jobs import tasks\n")
    assert "curation.jobs.tasks" in _imports("curation.jobs.services", ROOT / "curation/jobs/services.py", tree)


def _dynamic_imports(tree: ast.AST) -> list[str]:
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if called in ("__import__", "import_module", "autodiscover_modules", "iter_modules"):
                problems.append(f"line {node.lineno}: {called}()")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            if "pkgutil" in names:
                problems.append(f"line {node.lineno}: imports pkgutil")
        elif isinstance(node, ast.ExceptHandler) and node.type is not None:
            caught = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
            if any(isinstance(c, ast.Name) and c.id in ("ImportError", "ModuleNotFoundError") for c in caught):
                problems.append(f"line {node.lineno}: except ImportError")
    return problems


def test_no_dynamic_imports_or_import_guards_in_production_code():
    problems = {
        str(path.relative_to(ROOT)): found for path, tree in MODULES.values() if (found := _dynamic_imports(tree))
    }
    assert problems == {}


def test_the_dynamic_import_check_finds_what_it_looks_for():
    source = (
        "import pkgutil\n"
        "x = __import__('a')\n"
        "y = importlib.import_module('b')\n"
        "try:\n    import c\nexcept (ValueError, ImportError):\n    c = None\n"
    )
    assert len(_dynamic_imports(ast.parse(source))) == 4


def test_jobs_are_queued_only_by_the_kinds_create_services():
    """``job_create`` stores a job without checking its parameters: only the
    ``<kind>_create`` services (``curation/<feature>/services.py``) call it."""
    callers = set()
    for path, tree in MODULES.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if name == "job_create":
                    callers.add(str(path.relative_to(ROOT)))
    assert callers == {
        "curation/audit/services.py",
        "curation/ches/services.py",
        "curation/exports/services.py",
        "curation/generation/services.py",
        "curation/imports/services.py",
        "curation/judging/services.py",
        "curation/synthesis/services.py",
    }


def test_tests_import_project_modules_plainly():
    """A broken import must fail the suite, not skip tests (no ``importorskip``)."""
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr == "importorskip":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
