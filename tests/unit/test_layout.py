"""The house rules that keep the layout readable, checked on the source itself:
the core never talks to Slack, no module grows past 400 lines, and no package
imports a package that imports it back (at run time; imports under
`if TYPE_CHECKING:` are for type hints only and do not count)."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ["incidents", "oncall", "escalation", "approvals", "evidence", "reports", "alerts", "actions", "probes", "health",
        "paging"]
SLACK = re.compile(r"slack_sdk|slack_bolt|bot\.slack|ctx\.slack")
MAX_LINES = 400


def sources() -> list[Path]:
    return sorted([*(ROOT / "bot").rglob("*.py"), *(ROOT / "commands").rglob("*.py")])


def module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def package(name: str) -> str | None:
    """The room a module lives in: `bot.<first part>`, or `commands`."""
    parts = name.split(".")
    if parts[0] == "commands":
        return "commands"
    if parts[0] != "bot" or len(parts) < 2:
        return None
    first = ROOT / "bot" / parts[1]
    return f"bot.{parts[1]}" if first.is_dir() or first.with_suffix(".py").exists() else None


def runtime_imports(path: Path) -> list[str]:
    found: list[str] = []

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            test = node.test
            if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
                    (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
                for child in node.orelse:
                    self.visit(child)
                return
            self.generic_visit(node)

        def visit_Import(self, node: ast.Import) -> None:
            found.extend(alias.name for alias in node.names)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if node.module and node.level == 0:
                found.append(node.module)
                found.extend(f"{node.module}.{alias.name}" for alias in node.names)

    Visitor().visit(ast.parse(path.read_text()))
    return found


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in sources():
        src = package(module(path))
        for name in runtime_imports(path):
            dst = package(name)
            if src and dst and dst != src:
                graph[src].add(dst)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one member."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
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


@pytest.mark.parametrize("room", CORE)
def test_the_core_does_not_talk_to_slack(room: str) -> None:
    offending = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
                 for path in sorted((ROOT / "bot" / room).rglob("*.py"))
                 for n, line in enumerate(path.read_text().splitlines(), start=1) if SLACK.search(line)]
    assert offending == []


def test_commands_do_not_talk_to_slack() -> None:
    offending = [f"{path.relative_to(ROOT)}" for path in (ROOT / "commands").rglob("*.py")
                 if SLACK.search(path.read_text())]
    assert offending == []


def test_no_module_over_400_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in sources() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_no_import_circle_between_packages() -> None:
    assert cycles(package_graph()) == []


@pytest.mark.parametrize(("graph", "expected"), [
    ({"a": {"b"}, "b": {"c"}}, []),
    ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
], ids=["chain", "pair", "triangle"])
def test_cycle_finder(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert cycles(graph) == expected


def test_the_database_package_imports_no_room() -> None:
    """bot.db is the bottom floor: the features' tables import it, its migrations
    spell out their DDL and import no table."""
    assert package_graph().get("bot.db", set()) == set()


@pytest.mark.parametrize("name", ["scheduler", "timer_process", "lease"])
def test_the_timer_owner_imports_none_of_its_duties(name: str) -> None:
    """Housekeeping is handed to the timer owner by the app (bot.app.duties): the
    lease and timer modules know neither approvals nor samples, nor the app."""
    imported = {package(n) for n in runtime_imports(ROOT / "bot" / "escalation" / f"{name}.py")}
    assert imported & {"bot.approvals", "bot.evidence", "bot.app"} == set()
