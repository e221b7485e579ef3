import pytest

from pufferlib._native import resolve_num_threads
from pufferlib._native.threads import available_cores


def test_explicit_count_wins(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert resolve_num_threads(2) == 2


def test_omp_num_threads_is_honoured(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert resolve_num_threads() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "4,2")  # nested setting: the outer level counts
    assert resolve_num_threads() == 4


def test_default_is_the_cores_available(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert resolve_num_threads() == available_cores() >= 1


@pytest.mark.parametrize("value", [0, -2, 1.5, True, "2"])
def test_invalid_counts(value):
    with pytest.raises(ValueError, match="num_threads must be a positive integer or None"):
        resolve_num_threads(value)


@pytest.mark.parametrize("setting", ["0", "x", "-1"])
def test_invalid_environment_setting(monkeypatch, setting):
    monkeypatch.setenv("OMP_NUM_THREADS", setting)
    with pytest.raises(ValueError, match="OMP_NUM_THREADS must be a positive integer"):
        resolve_num_threads()
