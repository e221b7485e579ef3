import pytest

from pufferlib.benchmark import time_steps


@pytest.mark.parametrize("seconds", [float("nan"), float("inf"), 0.0, -1.0, True, "1"])
def test_time_steps_refuses_a_duration_that_would_never_end(seconds):
    with pytest.raises(ValueError, match=r"seconds must be a finite number > 0, got"):
        time_steps(lambda actions: None, [None], 1, seconds, 1)


@pytest.mark.parametrize("runs", [0, -2, 1.5])
def test_time_steps_needs_at_least_one_run(runs):
    with pytest.raises(ValueError, match=r"runs must be a positive integer, got"):
        time_steps(lambda actions: None, [None], 1, 0.01, runs)
