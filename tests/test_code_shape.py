"""The code stays easy to see and change (issue 10): no import cycle inside algorithms/
or benchmark/, no function in benchmark/ or algorithms/ over 60 lines, at most 3 places
outside benchmark/suites/ that test which suite is running, and no six-line block
repeated between the two suites' files."""
import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUITE_TEST = re.compile(r"\.episodic\b|==\s*['\"]fewshot['\"]|==\s*['\"]standard['\"]|is_fewshot|ways is not None")


def _module_name(path: Path, pkg_root: Path) -> str:
    rel = path.relative_to(pkg_root.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str, is_pkg: bool) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved)."""
    out = set()
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            parent = base[: len(base) - node.level + 1] if node.level else []
            mod = ".".join(parent + ([node.module] if node.module else []))
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def import_cycles(pkg: str) -> list[list[str]]:
    """Cycles among the package's modules at import time (function-local imports count too,
    as the project's shape check counts them; package __init__ files do not)."""
    root = ROOT / pkg
    files = {_module_name(p, root): p for p in root.rglob("*.py") if p.name != "__init__.py"}
    graph = {m: {n for n in _imports(p, m, False) if n in files and n != m} for m, p in files.items()}
    cycles, state = [], {}

    def visit(m, stack):
        state[m] = 1
        stack.append(m)
        for n in graph[m]:
            if state.get(n) == 1:
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n, stack)
        stack.pop()
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [])
    return cycles


@pytest.mark.parametrize("pkg", ["algorithms", "benchmark", "datasets"])
def test_no_import_cycles(pkg):
    assert import_cycles(pkg) == []


def test_import_cycle_detector_finds_a_cycle(tmp_path, monkeypatch):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import x\n")
    (pkg / "b.py").write_text("def f():\n    from . import a\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert [sorted(set(c)) for c in import_cycles("pkg")] == [["pkg.a", "pkg.b"]]


@pytest.mark.parametrize("pkg", ["benchmark", "algorithms"])
def test_no_function_over_60_lines(pkg):
    long = []
    for p in (ROOT / pkg).rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60:
                long.append(f"{p.relative_to(ROOT)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert long == []


def test_suite_is_asked_not_tested_outside_suites():
    hits = []
    for p in (ROOT / "benchmark").rglob("*.py"):
        if "suites" in p.parts:
            continue
        for i, line in enumerate(p.read_text().splitlines(), 1):
            if SUITE_TEST.search(line) and not line.strip().startswith("#"):
                hits.append(f"{p.relative_to(ROOT)}:{i}")
    assert len(hits) <= 3, hits


def _normalised_lines(path: Path) -> list[str]:
    """Code lines with strings and numbers replaced (a copy with other values still
    matches); blank, comment, import and punctuation-only lines left out."""
    out = []
    for line in path.read_text().splitlines():
        s = line.strip()
        if len(s) < 12 or s.startswith(("#", '"""', "from ", "import ", "@")):
            continue
        s = re.sub(r"\"[^\"]*\"|'[^']*'", "S", s)
        out.append(re.sub(r"\b\d+(\.\d+)?\b", "N", s))
    return out


def repeated_blocks(a: Path, b: Path, size: int = 6) -> list[str]:
    la, lb = _normalised_lines(a), _normalised_lines(b)
    windows = {tuple(lb[i:i + size]) for i in range(len(lb) - size + 1)}
    return ["\n".join(la[i:i + size]) for i in range(len(la) - size + 1) if tuple(la[i:i + size]) in windows]


def test_the_two_suites_share_no_six_line_block():
    suites = ROOT / "benchmark" / "suites"
    assert repeated_blocks(suites / "standard.py", suites / "fewshot.py") == []


def test_repeated_block_detector_finds_a_renamed_copy(tmp_path):
    body = "\n".join(f"    value_{i} = compute(x, {i})" for i in range(7))
    (tmp_path / "a.py").write_text(f"def f(x):\n{body}\n")
    (tmp_path / "b.py").write_text(f"def g(y):\n{body.replace('compute(x, ', 'compute(x, 10')}\n")
    assert repeated_blocks(tmp_path / "a.py", tmp_path / "b.py")
