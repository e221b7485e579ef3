"""A script that makes a multiprocessing vector env without `if __name__ == "__main__":` is told so.

Spawned workers import the main script again; its unguarded top level then runs in each of them,
which die trying to start workers of their own. Each test runs a script in a subprocess, as a user would.
"""
import os
import subprocess
import sys
import textwrap

import pytest

START_METHODS = ["spawn", "forkserver"]


def run_script(tmp_path, source):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(source))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.mark.parametrize("start_method", START_METHODS)
def test_an_unguarded_script_is_told_its_guard_is_missing(tmp_path, start_method):
    result = run_script(tmp_path, f"""\
        import functools, gymnasium, pufferlib.vector
        creator = functools.partial(gymnasium.make, "CartPole-v1")
        vecenv = pufferlib.vector.make(creator, num_envs=2, backend="multiprocessing", num_workers=2,
                                       start_method={start_method!r})
        vecenv.close()
        """)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("pufferlib.errors.WorkerError: worker ")
    assert (f"while creating its envs because the main script {tmp_path / 'script.py'} lacks an "
            '`if __name__ == "__main__":` guard: its line 3 makes this vector env at the top level') in last
    assert 'Put the script\'s top-level code under `if __name__ == "__main__":` to fix it' in last


@pytest.mark.parametrize("start_method", START_METHODS)
def test_a_guarded_script_whose_worker_dies_at_startup_is_not_blamed_on_the_guard(tmp_path, start_method):
    result = run_script(tmp_path, f"""\
        import multiprocessing, os, gymnasium, pufferlib.vector

        def dies_in_a_worker():
            if multiprocessing.parent_process() is not None:
                os._exit(3)
            return gymnasium.make("CartPole-v1")

        if __name__ == "__main__":
            pufferlib.vector.make(dies_in_a_worker, num_envs=2, backend="multiprocessing", num_workers=2,
                                  start_method={start_method!r})
        """)
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1
    assert last.startswith("pufferlib.errors.WorkerError: worker ") and "(exit code 3) while creating its envs; " in last
    assert "guard" not in last
