"""Compiling users' C environments (pufferlib/toolchain/compiler.py): `puffer build`, its cache, its errors."""
import os

import pytest

import pufferlib
from pufferlib import toolchain
from pufferlib.errors import BuildError, EnvironmentLoadError
from tests.toolchain.toolchain_helpers import needs_compiler, puffer, tiny

pytestmark = needs_compiler


def test_build_puts_the_library_where_make_looks(template):
    library = template / ".puffer_build" / "catcher.so"
    assert library.exists()
    assert toolchain.library_path(template / "catcher.c") == str(library)


def test_build_to_a_chosen_output_and_make_from_it(tmp_path):
    source = tiny(tmp_path)
    result = puffer("build", source, "-o", str(tmp_path / "out" / "mine.so"))
    assert result.returncode == 0, result.stderr
    with pufferlib.make(str(tmp_path / "out" / "mine.so"), num_envs=4) as env:
        assert env.name == "tiny"


# ---- the build cache ----

def test_make_builds_when_stale_and_reuses_when_fresh(tmp_path):
    source = tiny(tmp_path)
    library = toolchain.library_path(source)
    assert not os.path.exists(library)
    first = pufferlib.envs.env_def(source)
    built = os.stat(library).st_mtime_ns
    assert pufferlib.envs.env_def(source) is first          # fresh: neither rebuilt nor reloaded
    assert os.stat(library).st_mtime_ns == built

    tiny(tmp_path, horizon=20)                               # an edit: rebuilt and reloaded
    os.utime(source, ns=(built + 10**9, built + 10**9))
    second = pufferlib.envs.env_def(source)
    assert os.stat(library).st_mtime_ns > built
    assert second.defaults() == {"horizon": 20} and first.defaults() == {"horizon": 10}


def test_a_changed_local_header_makes_the_library_stale(tmp_path):
    header = tmp_path / "tiny_size.h"
    header.write_text("#define TINY_HORIZON 10\n")
    source = tiny(tmp_path, extra='#include "tiny_size.h"', horizon="TINY_HORIZON")
    assert pufferlib.envs.env_def(source).defaults() == {"horizon": 10}
    built = os.stat(toolchain.library_path(source)).st_mtime_ns
    header.write_text("#define TINY_HORIZON 30\n")
    os.utime(header, ns=(built + 10**9, built + 10**9))
    assert pufferlib.envs.env_def(source).defaults() == {"horizon": 30}


# ---- errors at build time ----

def test_syntax_error_shows_the_compiler_output_and_command(tmp_path):
    source = tiny(tmp_path, observation="1.0f +")
    with pytest.raises(BuildError, match=r"(?s)compiling .*tiny\.c failed.*\$ .*-shared.*tiny\.c.*error"):
        pufferlib.make(source)
    result = puffer("build", source)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "error: expected expression" in result.stderr and "-I " + pufferlib.get_include() in result.stderr


def test_missing_file(tmp_path):
    with pytest.raises(EnvironmentLoadError, match="no such file: .*nothing.c"):
        pufferlib.make(str(tmp_path / "nothing.c"))
    result = puffer("build", str(tmp_path / "nothing.c"))
    assert result.returncode == 2 and "no such file" in result.stderr


def test_no_compiler(tmp_path, monkeypatch):
    source = tiny(tmp_path)
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    with pytest.raises(BuildError, match="no C compiler: .*no-such-cc.* is not on PATH"):
        pufferlib.make(source)


# ---- puffer build verifies what it built ----

def test_build_refuses_a_file_that_is_not_c_before_compiling(tmp_path, monkeypatch):
    fake = tmp_path / "fake.so"
    fake.write_text("GROUP ( /etc/passwd )\n")      # what the linker would read as a script
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))  # the compiler is never asked
    with pytest.raises(BuildError, match=r"fake.so is not a C source: build compiles one .c file"):
        toolchain.build(fake)
    result = puffer("build", str(fake))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "puffer: error: " in result.stderr and "is not a C source" in result.stderr


def test_build_refuses_a_library_of_another_abi_version(tmp_path):
    source = tiny(tmp_path, extra="#undef PUFFER_ABI_VERSION\n#define PUFFER_ABI_VERSION 99")
    result = puffer("build", source)
    assert result.returncode == 2 and "built" not in result.stdout
    assert "compiled against pufferlib ABI version 99, but this pufferlib speaks version 1" in result.stderr
    assert not os.path.exists(toolchain.library_path(source))


def test_build_refuses_a_library_without_the_table(tmp_path):
    source = tiny(tmp_path, export="")
    with pytest.raises(EnvironmentLoadError, match=r"exports no pufferlib_env_table\(\)"):
        toolchain.build(source)
    assert not os.path.exists(toolchain.library_path(source))


def test_build_reports_a_library_that_crashes_when_loaded(tmp_path):
    source = tiny(tmp_path, spaces="*(volatile int*)16 = 1;")    # describe() faults
    result = puffer("build", source)
    assert result.returncode == 2 and "built" not in result.stdout
    assert "compiled, but loading it crashed with SIGSEGV (signal 11) while its table was read and " \
           "describe() ran at the default parameters, so it was deleted" in result.stderr
    assert not os.path.exists(toolchain.library_path(source))
