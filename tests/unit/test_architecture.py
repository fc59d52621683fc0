"""The layers point down and the project's modules import one another without cycles.

Imports are read from the source with `ast`, so the checks need no import side effects.
journey_state is the domain: it may not import the runtime (bot), the actions or Rasa,
not even inside a function. A cycle is counted on module-level imports (those run when the
module is imported), with `from x import y` resolved to module x.y when that is a module.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "actions", "journey_state")
FORBIDDEN_IN_DOMAIN = ("bot", "actions", "rasa", "rasa_sdk")
SKIP_DIRS = {"node_modules", "__pycache__"}


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every Python module of the project's packages."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if SKIP_DIRS & set(path.relative_to(ROOT).parts):
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def is_package(module: str, modules: dict[str, Path]) -> bool:
    return modules[module].name == "__init__.py"


def absolute(module: str, node: ast.ImportFrom, modules: dict[str, Path]) -> str:
    """The absolute module an ImportFrom names (resolving relative imports)."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package(module, modules) else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported(module: str, tree: ast.AST, modules: dict[str, Path], top_level_only: bool) -> set[str]:
    """The modules `module` imports; with top_level_only, only statements run at import time."""
    nodes: list[ast.AST]
    if top_level_only:
        nodes = []
        pending = list(ast.iter_child_nodes(tree))
        while pending:  # module body, including if/try blocks, but not function or class bodies
            node = pending.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(node, ast.If) and _is_type_checking(node.test):
                continue
            nodes.append(node)
            pending.extend(ast.iter_child_nodes(node))
    else:
        nodes = list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = absolute(module, node, modules)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                names.add(candidate if candidate in modules else base)
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def parsed() -> dict[str, ast.AST]:
    modules = module_files()
    return {name: ast.parse(path.read_text(encoding="utf-8"), filename=str(path)) for name, path in modules.items()}


def import_graph() -> dict[str, set[str]]:
    """Module-level imports between the project's own modules."""
    modules = module_files()
    return {
        name: {m for m in imported(name, tree, modules, top_level_only=True) if m in modules and m != name}
        for name, tree in parsed().items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return found


def test_journey_state_imports_nothing_above_it() -> None:
    modules = module_files()
    upward = sorted(
        f"{name} imports {target}"
        for name, tree in parsed().items()
        if name.split(".")[0] == "journey_state"
        for target in imported(name, tree, modules, top_level_only=False)
        if target.split(".")[0] in FORBIDDEN_IN_DOMAIN
    )
    assert upward == []


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_cycle_finder_finds_a_cycle() -> None:
    # The check above passes on an empty answer; this keeps it able to fail.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_from_import_of_a_module_resolves_to_that_module() -> None:
    modules = module_files()
    tree = ast.parse("from journey_state.store import repository\nfrom journey_state.store.tables import contacts\n")
    assert imported("bot.cli", tree, modules, top_level_only=True) == {"journey_state.store.repository", "journey_state.store.tables"}
