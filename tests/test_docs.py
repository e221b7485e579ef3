"""Every Python snippet of the README and the guides runs as a script, as a user pastes it.

Each ```python block of README.md, docs/*.md and examples/README.md is saved as a file and run with
this interpreter in a subprocess, in a temporary directory (so what it writes lands there). Markers
in an HTML comment on the line before a block (invisible on the rendered page):

- `<!-- script-setup: COMMAND -->`: a step of a walkthrough, run first in the same directory, where
  the block needs what an earlier step made (`puffer new ...`, `puffer train ...`); `puffer` runs as
  `python -m pufferlib.cli`.
- `<!-- not-a-script: REASON -->`: the block is not meant to run on its own; it is skipped.

Bash blocks are not run (the command line has its own tests).
"""
import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCUMENTS = ["README.md", *(f"docs/{name}" for name in sorted(os.listdir(os.path.join(ROOT, "docs")))
                            if name.endswith(".md")), "examples/README.md"]
FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*(script-setup|not-a-script):\s*(.*?)\s*-->\s*$")
TRAINS = re.compile(r"\bpufferlib\.train\(|\bpuffer train\b")  # seconds of training: the `learning` mark
TIMEOUT = 300


def python_blocks(path):
    """(first line number, code, marker, marker argument) of every ```python block of a Markdown file."""
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        lines = f.read().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        indent, language, start = fence.group(1), fence.group(2), i
        i += 1
        while i < len(lines) and not FENCE.match(lines[i]):
            i += 1
        if language == "python":
            code = "\n".join(line[len(indent):] for line in lines[start + 1:i]) + "\n"
            marker = MARKER.match(lines[start - 1]) if start > 0 else None
            blocks.append((start + 1, code, *(marker.groups() if marker else (None, None))))
        i += 1
    return blocks


def snippets():
    params = []
    for path in DOCUMENTS:
        if not os.path.exists(os.path.join(ROOT, path)):
            continue
        for line, code, marker, argument in python_blocks(path):
            marks = []
            if marker == "not-a-script":
                marks.append(pytest.mark.skip(reason=f"not a script: {argument}"))
            if TRAINS.search(code) or (marker == "script-setup" and TRAINS.search(argument)):
                marks.append(pytest.mark.learning)
            setup = argument if marker == "script-setup" else None
            params.append(pytest.param(code, setup, id=f"{path}:{line}", marks=marks))
    return params


def run(command, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)


@pytest.mark.parametrize(("code", "setup"), snippets())
def test_snippet_runs_as_a_script(tmp_path, code, setup):
    if setup is not None:
        words = shlex.split(setup)
        if words[0] == "puffer":
            words = [sys.executable, "-m", "pufferlib.cli", *words[1:]]
        done = run(words, tmp_path)
        assert done.returncode == 0, f"setup `{setup}` failed:\n{done.stdout}\n{done.stderr}"
    script = tmp_path / "snippet.py"
    script.write_text(code)
    result = run([sys.executable, str(script)], tmp_path)
    assert result.returncode == 0, f"the snippet failed:\n{code}\n{result.stdout}\n{result.stderr}"


def test_every_document_has_its_snippets_found():
    found = {path: len(python_blocks(path)) for path in DOCUMENTS if os.path.exists(os.path.join(ROOT, path))}
    assert found["README.md"] >= 5 and found["docs/export.md"] >= 1 and found["docs/c-environments.md"] >= 1
