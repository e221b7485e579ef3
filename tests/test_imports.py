"""The package's imports: no cycle, no module importing a layer above it, a light `import pufferlib`.

Every module of pufferlib (.py, and the .pyx/.pxd of the compiled half) is read, not imported:
its imports at module level and inside functions alike, since a cycle through a function-level
import is a cycle that only shows when that function runs.
"""
import ast
import json
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "pufferlib"

# The layers of the package, bottom first (DESIGN.md's layout). A module may import modules of its
# own part (pufferlib.vector._base from pufferlib.vector.serial) and of the layers below its
# part's, never the layer above, nor another part of its own layer. The package root
# (pufferlib/__init__.py) is the top: nothing inside imports it (`import pufferlib`, or
# `from pufferlib import make`; `from pufferlib import errors` names the module pufferlib.errors).
LAYERS = [
    {"errors", "headers", "render"},     # no pufferlib imports at all
    {"_native", "spaces"},               # the compiled engine, vector protocol and kernels; space helpers
    {"environment"},                     # PufferEnv, buffers, episode statistics
    {"emulation", "benchmark"},
    {"vector"},                          # the vector backends
    {"toolchain"},                       # users' C environments: compile, load, check
    {"envs"},                            # the registry of names, make, the env spec
    {"train"},
    {"export", "sweep"},                 # export a policy; hyperparameter search (pufferlib.sweep)
    {"cli"},
    {PACKAGE},                           # the package root
]

# Edges (importer, imported) that break the rules today and belong to other parts of issue 11;
# each is removed here when its fix lands (the test fails on an entry that no longer applies).
KNOWN = set()


def _source_files(package_dir):
    for folder, dirs, files in os.walk(package_dir):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".py", ".pyx", ".pxd")):
                yield os.path.join(folder, name)


def _module_name(path, root):
    parts = os.path.splitext(os.path.relpath(path, root))[0].split(os.sep)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


_CYTHON_IMPORT = re.compile(r"^\s*(from\s+\S+\s+c?import\b|c?import\s)")


def _cython_import_statements(text):
    """The import and cimport statements of a .pyx/.pxd file (which ast cannot parse), as Python.

    Statements that begin a line, at any indentation (function-level imports too), with their
    parenthesized or backslash-continued lines; `cimport` is read as `import`. A line of a
    docstring that happens to start with "from" does not parse, and is skipped.
    """
    lines = text.splitlines()
    statements, i = [], 0
    while i < len(lines):
        if not _CYTHON_IMPORT.match(lines[i]):
            i += 1
            continue
        statement = lines[i].strip()
        while (statement.count("(") > statement.count(")") or statement.endswith("\\")) \
                and i + 1 < len(lines):
            i += 1
            statement = statement.rstrip("\\") + " " + lines[i].strip()
        statement = re.sub(r"\bcimport\b", "import", statement.split("#")[0])
        try:
            statements.extend(ast.parse(statement).body)
        except SyntaxError:
            pass
        i += 1
    return statements


def _imported(node, module, is_package, modules):
    """The package modules that one Import/ImportFrom node of `module` imports."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:   # relative: from the package of `module` (itself when it is a package's __init__)
        base = module.split(".")
        base = base[:len(base) - node.level + (1 if is_package else 0)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module
    # `from P import X` imports the module P.X when there is one, else names of P
    return [f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target
            for alias in node.names]


def import_graph(root, package=PACKAGE):
    """{module: {package modules it imports}} for every module of `package` under the folder `root`."""
    files = {}
    for path in _source_files(os.path.join(root, package)):
        files.setdefault(_module_name(path, root), []).append(path)   # mlp.pyx and mlp.pxd: one module
    graph = {}
    for module, paths in files.items():
        edges = set()
        for path in paths:
            with open(path, encoding="utf-8") as f:
                text = f.read()
            if path.endswith(".py"):
                nodes = [n for n in ast.walk(ast.parse(text, path))
                         if isinstance(n, (ast.Import, ast.ImportFrom))]
            else:
                nodes = _cython_import_statements(text)
            is_package = os.path.basename(path).startswith("__init__.")
            for node in nodes:
                for target in _imported(node, module, is_package, files):
                    if target == package or target.startswith(package + "."):
                        edges.add(target)
        edges.discard(module)   # a .pyx cimporting its own .pxd
        graph[module] = edges
    return graph


def find_cycle(graph):
    """One import cycle [a, b, ..., a] among the modules of `graph`, or None."""
    state = {}   # module -> "open" while on the current path, "done" after

    def visit(module, path):
        state[module] = "open"
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if target not in graph:
                continue
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state:
                found = visit(target, path)
                if found:
                    return found
        path.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            found = visit(module, [])
            if found:
                return found
    return None


def part_of(module, package=PACKAGE):
    """The part of the package a module belongs to: its first name below the root (or the root)."""
    names = module.split(".")
    return names[1] if len(names) > 1 else package


def layer_violations(graph, layers=LAYERS, package=PACKAGE):
    """(importer, imported) edges that go up the layers or across a layer; unknown parts raise."""
    level = {part: n for n, parts in enumerate(layers) for part in parts}
    unplaced = sorted({part_of(m, package) for m in graph} - set(level))
    if unplaced:
        names = ", ".join(f"{package}.{part}" for part in unplaced)
        raise AssertionError(f"{names} is in no layer of LAYERS; add it to the layer it belongs to")
    bad = set()
    for module, targets in graph.items():
        for target in targets:
            if target not in graph and target != package:
                continue   # an attribute, not a module (from pufferlib._native.engine import X)
            a, b = part_of(module, package), part_of(target, package)
            if a != b and level[b] >= level[a]:
                bad.add((module, target))
    return bad


@pytest.fixture(scope="module")
def graph():
    return import_graph(ROOT)


def test_every_module_is_read(graph):
    assert {"pufferlib", "pufferlib._native.engine", "pufferlib.toolchain.compiler", "pufferlib.envs",
            "pufferlib.cli"} <= set(graph)
    assert "pufferlib._native.abi" in graph["pufferlib._native.engine"]   # .pyx cimports are seen
    assert "pufferlib.toolchain" in graph["pufferlib.cli"]               # function-level imports too


def test_no_import_cycle(graph):
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}; move what both need into the lower module"


def test_no_module_imports_a_layer_above_it(graph):
    bad = layer_violations(graph)
    new = sorted(bad - KNOWN)
    assert not new, ("imports that go up (or across) the layers of LAYERS: "
                     + "; ".join(f"{a} imports {b}" for a, b in new)
                     + "; import downwards only, moving the shared code down if need be")
    fixed = sorted(KNOWN - bad)
    assert not fixed, f"fixed, remove from KNOWN: {fixed}"


def test_the_checks_find_a_cycle_and_an_import_upwards(tmp_path):
    # A package `pkg` with two layers: low.py imports high inside a function, and high imports low.
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "low.py").write_text("import os\n\ndef f():\n    from pkg import high\n    return high\n")
    (package / "high.py").write_text("from pkg.low import f\n")
    graph = import_graph(str(tmp_path), "pkg")
    assert graph == {"pkg": set(), "pkg.low": {"pkg.high"}, "pkg.high": {"pkg.low"}}
    assert find_cycle(graph) == ["pkg.high", "pkg.low", "pkg.high"]
    assert layer_violations(graph, [{"low"}, {"high"}, {"pkg"}], "pkg") == {("pkg.low", "pkg.high")}
    (package / "low.pyx").write_text("cimport numpy as cnp\nfrom pkg cimport (\n    high)\n")
    assert import_graph(str(tmp_path), "pkg")["pkg.low"] == {"pkg.high"}
    with pytest.raises(AssertionError, match="pkg.high is in no layer"):
        layer_violations(graph, [{"low"}, {"pkg"}], "pkg")


# What `import pufferlib` must not load: training, export, sweeps and their libraries load when
# they start (DESIGN.md: `import pufferlib` needs numpy and gymnasium, plus its own engine).
NOT_AT_IMPORT = ["torch", "rich", "optuna", "pettingzoo", "ray", "pufferlib._native.mlp",
                 "pufferlib._native.lstm", "pufferlib._native.advantage", "pufferlib.train", "pufferlib.export",
                 "pufferlib.cli"]


def test_import_pufferlib_loads_no_trainer_libraries():
    code = "import json, sys; import pufferlib; print(json.dumps([pufferlib.__file__, sorted(sys.modules)]))"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                            timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    where, loaded = json.loads(result.stdout)
    assert where == os.path.join(ROOT, "pufferlib", "__init__.py")      # this checkout's package
    loaded = set(loaded)
    assert {"numpy", "gymnasium", "pufferlib._native.engine"} <= loaded
    assert not loaded & set(NOT_AT_IMPORT), f"import pufferlib loaded {sorted(loaded & set(NOT_AT_IMPORT))}"
