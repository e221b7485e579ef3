"""A C environment written by `puffer new` trains like a built-in one (issue: your own C environment)."""
import pytest

from pufferlib.errors import BuildError
from pufferlib.toolchain import compiler, new_env
from tests.train.helpers import trained_return


@pytest.mark.learning
def test_the_template_environment_learns(tmp_path):
    try:
        compiler()
    except BuildError:
        pytest.skip("no C compiler")
    source, _ = new_env("catch", tmp_path)
    # a 5x5 field: random play loses its 3 lives at once (about -2), a policy that tracks the ball
    # catches it every time until the episode is truncated
    result = trained_return(str(source), tmp_path / "runs", episodes=20, env={"width": 5, "height": 5},
                            train={"total_timesteps": 60_000, "learning_rate": 3e-3},
                            policy={"hidden_size": 32})
    assert result["mean_return"] > 20
