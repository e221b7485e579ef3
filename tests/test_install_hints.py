"""Every `pip install` hint in the package, its docs and its scripts works on a fresh machine.

The name `pufferlib` on the package index belongs to the original PufferLib (3.x), so a hint that
installs `pufferlib` or `pufferlib[extra]` would fetch another library; this one is not published
there under its own distribution name either. Hints name the third-party packages themselves
(`pip install onnx onnxscript onnxruntime`), or install from the checkout (`pip install -e ".[onnx]"`).
"""
import os
import re
import sys

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCANNED = ("pufferlib", "docs", "examples", "bench", "csrc", "tests", ".ci")
SUFFIXES = (".py", ".pyx", ".pxd", ".md", ".toml", ".c", ".h", ".txt", ".cfg", "run")
# A hint is everything after `pip install` up to the end of its line, code span or parenthesis.
HINT = re.compile(r"pip install\s+([^`\n)]*)")
EXTRAS_OF_THE_ORIGINAL = re.compile(r"(?<![\w.-])pufferlib\[")


def _normalized(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _our_names():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return {"pufferlib", _normalized(tomllib.load(f)["project"]["name"])}


def _files():
    yield from (os.path.join(ROOT, name) for name in ("README.md", "pyproject.toml", "setup.py"))
    for top in SCANNED:
        for folder, dirs, files in os.walk(os.path.join(ROOT, top)):
            dirs[:] = [d for d in dirs if not d.startswith((".puffer_build", "__pycache__"))]
            yield from (os.path.join(folder, f) for f in sorted(files)
                        if f.endswith(SUFFIXES) and os.path.join(folder, f) != os.path.abspath(__file__))


def bad_hints(text, names):
    """The install hints in `text` that name a distribution in `names` (from the index), with their lines."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for hint in HINT.findall(line):
            for token in hint.split():
                requirement = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", token.strip("'\""))
                if not token.startswith("-") and requirement and _normalized(requirement.group()) in names:
                    found.append((number, line.strip()))
        if EXTRAS_OF_THE_ORIGINAL.search(line) and (number, line.strip()) not in found:
            found.append((number, line.strip()))
    return found


@pytest.mark.parametrize("text", [
    "pip install 'pufferlib[onnx]'", 'pip install "pufferlib[ray]"', "pip install pufferlib",
    "(`pip install -U pufferlib==3.0`)", "needs Ray: pip install pufferlib-native[ray]",
    "the `video` extra, pufferlib[video]",
])
def test_the_scan_finds_hints_that_fetch_the_original_or_an_unpublished_name(text):
    assert bad_hints(text, _our_names()) == [(1, text)]


@pytest.mark.parametrize("text", [
    "pip install onnx onnxscript onnxruntime", 'pip install -e ".[onnx]"', "pip install -e .",
    "pip install --no-index --no-build-isolation pufferlib_native-*.tar.gz", "import pufferlib",
    'pip install "gymnasium[classic-control]"', "pip install torch==2.13.0 && pip install -e .",
])
def test_the_scan_passes_hints_that_work(text):
    assert bad_hints(text, _our_names()) == []


def test_no_install_hint_fetches_the_original_pufferlib():
    names = _our_names()
    bad = []
    for path in _files():
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError):
            continue
        bad += [f"{os.path.relpath(path, ROOT)}:{number}: {line}" for number, line in bad_hints(text, names)]
    assert not bad, ("install hints that would fetch the original PufferLib (or a name not on the index); "
                     "name the third-party packages instead:\n" + "\n".join(bad))
