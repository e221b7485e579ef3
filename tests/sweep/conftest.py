import glob
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import types
from pathlib import Path

import pytest

from tests.sweep.sweep_helpers import run_sweep, trials_of


@pytest.fixture(scope="session")
def finished_study(tmp_path_factory):
    """A finished sweep of 4 tiny trials, 2 at once (they meet: each waits until both run), in SQLite.

    Shared, read only: the tests that add to a study copy its folder first.
    """
    folder = tmp_path_factory.mktemp("finished")
    overrides = {"sweep.trials": 4, "sweep.jobs": 2, "env.meet": 2}
    summary, output = run_sweep(folder, "finished", overrides=overrides)
    return types.SimpleNamespace(folder=folder, data_dir=folder / "runs", overrides=overrides, summary=summary,
                                 output=output, trials=trials_of("finished", folder / "runs"))


# -- a PostgreSQL server of our own -----------------------------------------------------------------

def _postgres_bin():
    """The folder of initdb and pg_ctl: on PATH, else the newest /usr/lib/postgresql/*/bin; or None."""
    found = shutil.which("initdb")
    if found:  # the folder of the binaries, not of a link to initdb (Debian links only a few)
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: [int(x) for x in Path(p).parts[-3].split(".") if x.isdigit()])
    return Path(versions[-1]).parent if versions else None


def _server_user():
    """The user to run the server as: ourselves, or when we are root (initdb refuses it) postgres or nobody."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    pytest.fail("running as root, with neither a postgres nor a nobody user to run PostgreSQL as")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url():
    """A database on a PostgreSQL server started for these tests (127.0.0.1, a free port, trust auth).

    The server and its data live in a temporary folder (outside pytest's, which only root may enter)
    owned by the server's user; both are gone after the session.
    """
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql/*/bin); "
                    "apt-get install postgresql to run these tests")
    user = _server_user()
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS")}  # CI's sanitizers
    folder = Path(tempfile.mkdtemp(prefix="pufferlib-postgres-"))
    data, port = folder / "data", _free_port()

    def run(*command):
        argv = [str(bin_dir / command[0]), *command[1:]]
        if user is not None:
            argv = ["runuser", "-u", user.pw_name, "--", *argv] if shutil.which("runuser") else \
                ["su", user.pw_name, "-s", "/bin/sh", "-c", shlex.join(argv)]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, cwd=folder)
        assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"

    try:
        if user is not None:
            os.chown(folder, user.pw_uid, user.pw_gid)
        run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        run("pg_ctl", "-D", str(data), "-l", str(folder / "server.log"), "-w", "-t", "60", "-o",
            f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={folder} -c fsync=off",
            "start")
        try:
            run("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "sweeps")
            yield f"postgresql://postgres@127.0.0.1:{port}/sweeps"
        finally:
            run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "-t", "60", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
