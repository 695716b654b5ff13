"""The package's import graph keeps the layers of docs/ARCHITECTURE.md: no upward import, no cycle.

Layers, bottom up: facts (settings, errors, timestamps, run_stats) → http → extract → analytics → job → cli.
A module imports only from its own layer or below. The simulator imports only the facts (it stands in for
Braze, so it must not share the client's code), and only the CLI (its `demo`) imports the simulator. The
package root (the public API) may import any layer but the CLI; no module imports the root.
Imports are read with `ast`, including those inside functions; `if TYPE_CHECKING:` imports count for the
layers but not for cycles (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "braze_cdi_source"
ROOT = "braze_cdi_source"

LAYERS = {
    "settings": 0,
    "errors": 0,
    "timestamps": 0,
    "run_stats": 0,
    "terminal_text": 0,
    "http": 1,
    "extract": 2,
    "analytics": 3,
    "job": 4,
    "cli": 5,
}
SIMULATOR = "simulator"
API = 4  # the root package: the public API over extract and analytics, under the CLI


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:`."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inside.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return inside


def imports(name: str, path: Path, known: set[str]) -> list[tuple[str, bool]]:
    """(imported module of the package, only for type checking) for every import in the module."""
    tree = ast.parse(path.read_text(), str(path))
    typing_only = _type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            # `from pkg import sub` imports the submodule `pkg.sub` when there is one
            targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in known else source for a in node.names]
        else:
            continue
        for target in targets:
            if target == ROOT or target.startswith(ROOT + "."):
                while target not in known:  # `import braze_cdi_source.x.y` where y is a name, not a module
                    target = target.rpartition(".")[0]
                found.append((target, id(node) in typing_only))
    return found


def layer_of(name: str) -> int | str:
    if name == ROOT:
        return API
    top = name.split(".")[1]
    if top == SIMULATOR:
        return SIMULATOR
    assert top in LAYERS, f"{name} belongs to no layer: give it one in LAYERS and docs/ARCHITECTURE.md"
    return LAYERS[top]


def graph() -> dict[str, list[tuple[str, bool]]]:
    found = modules()
    return {name: imports(name, path, set(found)) for name, path in found.items()}


def test_every_import_goes_down_or_sideways_never_up():
    wrong = []
    for name, targets in graph().items():
        mine = layer_of(name)
        for target, _ in targets:
            theirs = layer_of(target)
            if target == ROOT and name != ROOT:
                wrong.append(f"{name} imports the package root (import the module that holds it)")
            elif mine == SIMULATOR:
                if theirs != SIMULATOR and theirs != 0:
                    wrong.append(f"simulator module {name} imports {target}: the simulator uses the facts only")
            elif theirs == SIMULATOR:
                if mine != LAYERS["cli"]:
                    wrong.append(f"{name} imports the simulator {target}: only the CLI's demo may")
            elif theirs > mine:
                wrong.append(f"{name} (layer {mine}) imports {target} (layer {theirs}): an upward import")
    assert not wrong, "\n".join(wrong)


def test_the_import_graph_has_no_cycle():
    edges = {name: sorted({t for t, typing_only in targets if not typing_only and t != name})
             for name, targets in graph().items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in edges.get(node, []):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            raise AssertionError("import cycle: " + " -> ".join(cycle))


def test_the_graph_sees_the_imports_it_checks():
    """A parser that found nothing would pass the two tests above: check it sees known edges."""
    edges = {name: {t for t, _ in targets} for name, targets in graph().items()}
    assert "braze_cdi_source.http.client" in edges["braze_cdi_source.extract.source"]
    assert "braze_cdi_source.settings" in edges["braze_cdi_source.simulator.server"]
    assert "braze_cdi_source.simulator" in edges["braze_cdi_source.cli.demo"]  # imported inside `demo`
    assert ("braze_cdi_source.simulator.server", True) in graph()["braze_cdi_source.simulator.ticker"]
