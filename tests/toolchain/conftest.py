import pytest

from tests.toolchain.toolchain_helpers import puffer


@pytest.fixture(scope="session")
def template(tmp_path_factory):
    """`puffer new catcher` then `puffer build catcher.c`, as a user would (once for these tests)."""
    folder = tmp_path_factory.mktemp("new")
    made = puffer("new", "catcher", "--dir", str(folder))
    assert made.returncode == 0, made.stderr
    built = puffer("build", str(folder / "catcher.c"))
    assert built.returncode == 0, built.stderr
    return folder
