"""The build: OpenMP present where it should be, headers installed, ABI version exported."""
import os

import pytest

import pufferlib


@pytest.mark.skipif(os.environ.get("PUFFER_SKIP_OPENMP_TEST", "0") not in ("", "0"),
                    reason="PUFFER_SKIP_OPENMP_TEST is set: this build is expected to lack OpenMP")
def test_openmp_is_enabled():
    # A compiler with OpenMP (gcc here) must give a threaded build; set PUFFER_SKIP_OPENMP_TEST=1
    # when building without it on purpose (PUFFER_NO_OPENMP=1, or a compiler without OpenMP).
    assert pufferlib.openmp_enabled(), (
        "pufferlib was built without OpenMP: environments step on one thread. Rebuild with a "
        "compiler that supports -fopenmp, or set PUFFER_SKIP_OPENMP_TEST=1 if this is intended.")


def test_headers_are_installed():
    include = pufferlib.get_include()
    for header in ("puffer_env.h", "puffer_run.c"):
        assert os.path.isfile(os.path.join(include, header))


def test_abi_version_matches_the_header():
    with open(os.path.join(pufferlib.get_include(), "puffer_env.h")) as f:
        assert f"#define PUFFER_ABI_VERSION {pufferlib.ABI_VERSION}\n" in f.read()


def test_every_package_is_listed_for_the_wheel():
    # pyproject.toml lists the packages by hand: one missing from the list is missing from a
    # non-editable install (pufferlib.envs.scripted once was).
    import sys
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "pyproject.toml"), "rb") as f:
        listed = set(tomllib.load(f)["tool"]["setuptools"]["packages"])
    found = {os.path.relpath(folder, root).replace(os.sep, ".")
             for folder, _, files in os.walk(os.path.join(root, "pufferlib")) if "__init__.py" in files}
    assert found - listed == set()
