"""Fixtures of the backend tests (imported by them): Ray for the tests marked `ray`, and no worker
process left behind."""
import importlib.util
import multiprocessing
import os
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
HAVE_RAY = importlib.util.find_spec("ray") is not None
RAY_MARKS = [pytest.mark.ray, pytest.mark.skipif(not HAVE_RAY, reason="ray is not installed (pip install ray)")]


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance for a module, whose workers can import the test environments."""
    import ray

    path = os.pathsep.join(p for p in (HERE, os.environ.get("PYTHONPATH")) if p)
    ray.init(include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield
    ray.shutdown()


@pytest.fixture(autouse=True)
def ray_for_ray_tests(request):
    """Starts Ray only for the tests marked `ray`: a run that deselects them (`-m "not ray"`, as the
    sanitizer stage of CI does, where Ray's own binaries cannot run under the preloaded runtime)
    never starts it."""
    if request.node.get_closest_marker("ray") is not None:
        request.getfixturevalue("local_ray")


@pytest.fixture(autouse=True)
def no_leftover_processes():
    yield
    deadline = time.monotonic() + 5
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert multiprocessing.active_children() == []
