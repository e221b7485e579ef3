"""`puffer train --selfplay.enabled`, `puffer eval --opponent` and `puffer league`, run as a user would."""
import subprocess
import sys

import pytest

from pufferlib.train.logger import read_metrics


def puffer(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "pufferlib.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A connect4 run trained by self-play for a few updates, resumed once."""
    data = tmp_path_factory.mktemp("runs")
    args = ("train", "connect4", "--selfplay.enabled", "true", "--selfplay.snapshot_interval", "1",
            "--env.num_envs", "16", "--train.horizon", "16", "--train.minibatch_size", "128",
            "--data-dir", str(data), "--log.interval", "0.000001")
    result = puffer(*args, "--timesteps", "2048")
    assert result.returncode == 0, result.stderr
    (run,) = [p for p in data.iterdir() if p.is_dir()]
    result = puffer(*args[:2], "--resume", str(run), "--timesteps", "4096", "--data-dir", str(data))
    assert result.returncode == 0, result.stderr
    return data, run


def test_train_logs_the_league_and_resume_continues_it(trained):
    _, run = trained
    records = read_metrics(run)
    elo = [r["selfplay/elo"] for r in records if "selfplay/elo" in r]
    assert records[-1]["global_step"] == 4096
    assert len(elo) >= 4 and len(set(elo)) > 1
    steps = [r["global_step"] for r in records]
    assert steps == sorted(steps)           # the resumed run appended to the same log
    assert (run / "curves.png").exists()


def test_eval_against_an_opponent_prints_both_seats(trained):
    data, run = trained
    result = puffer("eval", "connect4", "--checkpoint", str(run), "--opponent", "random", "--episodes", "12")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "against random, 12 games on each of its 2 seats" in lines[0]
    seats = {line.split()[0] + line.split()[1]: line.split() for line in lines[2:4]}
    assert set(seats) == {"seat0", "seat1"}
    for fields in seats.values():
        assert sum(int(x) for x in fields[2:5]) == 12
    total = lines[4].split()
    assert total[0] == "total" and sum(int(x) for x in total[1:4]) == 24


def test_eval_against_the_latest_checkpoint_and_scripted(trained):
    data, run = trained
    result = puffer("eval", "connect4", "--data-dir", str(data), "--opponent", "scripted", "--episodes", "4",
                    "--deterministic")
    assert result.returncode == 0, result.stderr
    assert "against scripted" in result.stdout


def test_league_prints_a_ratings_table(trained):
    data, run = trained
    result = puffer("league", "connect4", "--checkpoints", str(run), "random", "scripted", "--episodes", "6")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "round robin of 3 players" in lines[0]
    assert lines[1].split()[:2] == ["player", "Elo"]
    rows = [line.split() for line in lines[2:]]
    assert len(rows) == 3 and rows[0][0] == "scripted"
    assert all(int(r[2]) == 24 for r in rows)    # 2 opponents x 6 games x 2 seats
    ratings = [float(r[1]) for r in rows]
    assert ratings == sorted(ratings, reverse=True)


@pytest.mark.parametrize("args, message", [
    (("eval", "cartpole", "--checkpoint", "nowhere.pt", "--opponent", "random"),
     "player: 'nowhere.pt' is neither"),
    (("eval", "connect4", "--checkpoint", "CKPT", "--opponent", "nonsense"), "neither 'random'"),
    (("eval", "connect4", "--checkpoint", "CKPT", "--opponent", "random", "--video", "x.gif"),
     "drop --video or --opponent"),
    (("league", "connect4", "--checkpoints", "random"), "at least 2 players"),
    (("train", "cartpole", "--selfplay.enabled", "true", "--timesteps", "64"), "at least 2 agents per env"),
    (("train", "connect4", "--selfplay.enabled", "true", "--selfplay.teams", "0,1"), "at least 2 teams"),
    (("train", "connect4", "--selfplay.enabled", "true", "--selfplay.opponents", "scripted:4"),
     "must be a number in [0, 1], got '4'"),
    (("train", "connect4", "--selfplay.sampling", "best"), "selfplay.sampling must be one of"),
])
def test_errors_are_one_line_and_exit_2(trained, args, message):
    _, run = trained
    args = tuple(str(run) if a == "CKPT" else a for a in args)
    result = puffer(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
