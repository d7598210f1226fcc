"""The package's import graph, read from the source with ``ast`` (imports inside functions
included), has no cycle: data flows one way, and no module reaches back to a layer above it."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "minicnn"


def module_name(path):
    """minicnn/data/loader.py -> 'minicnn.data.loader'; a package's __init__ -> its name."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules():
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _absolute(node, importer, is_package):
    """The absolute module named by an ImportFrom node inside ``importer``."""
    if node.level == 0:
        return node.module
    base = importer.split(".")
    base = base[:len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(node, importer, is_package, known):
    """Modules of the package that an import statement executes."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = _absolute(node, importer, is_package)
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                 for a in node.names]
    out = set()
    for name in names:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):      # a.b.c also runs a.b's __init__ ...
            prefix = ".".join(parts[:i])
            own_package = (importer + ".").startswith(prefix + ".")   # ... unless it is ours
            if prefix in known and (prefix == name or not own_package):
                out.add(prefix)
    return out - {importer}


def import_graph():
    """{module: set of package modules it imports}, from every import statement anywhere."""
    known = modules()
    graph = {}
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges |= _targets(node, name, path.name == "__init__.py", known)
        graph[name] = edges
    return graph


def find_cycle(graph):
    """One cycle as a list of modules [a, b, ..., a], or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_package_imports_have_no_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_graph_sees_imports_inside_functions():
    graph = import_graph()
    assert "minicnn.pipeline" in graph["minicnn.cli"]          # imported inside _train
    assert "minicnn.runs" in graph["minicnn.report"] and "minicnn.runs" in graph["minicnn.pipeline"]
    assert "minicnn.report" not in graph["minicnn.runs"]


def test_a_cycle_is_found():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def reachable(graph, start):
    """Every module ``start`` imports, directly or through others."""
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_training_does_not_reach_the_html_report_and_settings_stay_light():
    graph = import_graph()
    assert "minicnn.report" not in reachable(graph, "minicnn.pipeline")   # through a hook
    assert reachable(graph, "minicnn.settings") <= {"minicnn.validation"}
