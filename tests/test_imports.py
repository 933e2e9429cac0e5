"""Arrows point one way: no module of ``idc`` imports, directly or through others, a module that imports it."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "idc"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each module of ``idc`` -> the modules of ``idc`` it imports anywhere in its file (lazy imports count;
    ``from idc.x import y`` points at ``idc.x.y`` when that is a module, else at ``idc.x``)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the module's own package, or ``level - 1`` packages up
                    package = (name if path.name == "__init__.py" else name.rpartition(".")[0]).split(".")
                    package = package[: len(package) - node.level + 1]
                    base = ".".join([*package, *([base] if base else [])])
                targets |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_inside_idc():
    graph = import_graph()
    assert {"idc.module", "idc.train", "idc.stage2", "idc.metrics"} <= graph.keys()
    assert "idc.stage2" in graph["idc.module"]  # the walk sees imports
    assert cycles(graph) == []


def loaded_on_import(name: str, modules: dict[str, Path]) -> set[str]:
    """The packages outside ``idc`` (top-level names) that ``import name`` loads, as far as the statements run
    at import time say: module and class bodies and their ``if``/``try``/``with`` blocks, not function bodies
    (where the lazy imports are); a module of ``idc`` loads its parent packages too."""
    seen: set[str] = set()
    outside: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen or current not in modules:
            continue
        seen.add(current)
        parts = current.split(".")
        todo += [".".join(parts[:k]) for k in range(1, len(parts))]
        body = list(ast.parse(modules[current].read_text()).body)
        while body:
            node = body.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                base = node.module or ""
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                body += [child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt)]
                continue
            for target in names:
                if target.split(".")[0] == "idc":
                    todo.append(target)
                else:
                    outside.add(target.split(".")[0])
    return outside


def test_a_baseline_run_and_a_refused_config_import_no_lightning():
    """`idc-train method=kmeans` and `idc-train <bad value>` start in seconds: nothing on their way imports
    Lightning (about 8 s of a run's start here); the neural run imports it in idc.fit."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    for name in ("idc.cli.train", "idc.console", "idc.signals", "idc.schema", "idc.config", "idc.run_dir",
                 "idc.train", "idc.data", "idc.size_rule", "idc.baselines"):
        assert "pytorch_lightning" not in loaded_on_import(name, modules), name
    assert "pytorch_lightning" in loaded_on_import("idc.fit", modules)  # the walk sees it where it is


def test_the_commands_that_list_or_describe_tables_start_without_scikit_learn_or_torch():
    """`idc-data --help` / `--list` and `idc-paper --help` answer in a fraction of a second: `idc.data` imports
    its loader (scikit-learn's imputers) and the DataModule (Lightning) on first use only."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    for name in ("idc.cli.data", "idc.cli.paper", "idc.data", "idc.data.registry", "idc.data.table"):
        loaded = loaded_on_import(name, modules)
        assert not loaded & {"sklearn", "torch", "pytorch_lightning"}, (name, loaded)
