"""Shared by the C kernel tests: running a test on each compiled instruction set.

Each test module makes the fixture its own with `instruction_set = instruction_set_fixture()`.
"""
import pytest

from pufferlib._native import lstm, mlp

# Each extension module carries its own copy of the dispatch (csrc/puffer_mlp.h's static limit):
# both are capped, so a test runs the chosen version whichever module its kernels live in.
KERNEL_MODULES = (mlp, lstm)


def _pinned(request):
    """Runs a test on each compiled version of the kernels that this CPU can run."""
    best = mlp._instruction_set()
    if request.param > best:
        pytest.skip(f"this CPU runs instruction set {best}, not {request.param}")
    for module in KERNEL_MODULES:
        assert module._instruction_set(request.param) == request.param
    yield request.param
    for module in KERNEL_MODULES:
        module._instruction_set(4)


def instruction_set_fixture():
    """The `instruction_set` fixture: portable, AVX2 and AVX-512 in turn (skipped where missing)."""
    return pytest.fixture(params=[0, 3, 4], ids=["portable", "avx2", "avx512"])(_pinned)
