"""What an ENV spec names: a native environment (built-in, C file, library) or a Python one."""
import pytest

from pufferlib.errors import UnknownEnvironmentError
from pufferlib.envs import env_kind


@pytest.mark.parametrize("spec", ["cartpole", "my_env.c", "envs/my_env.c", "envs/my_env.so", "my_env.dylib",
                                  "./my_env.c"])
def test_built_in_names_and_c_paths_are_native(spec):
    assert env_kind(spec) == "native"


@pytest.mark.parametrize("spec", ["gymnasium:CartPole-v1", "gymnasium:ALE/Pong-v5", "my_pkg.envs:make_env"])
def test_module_callables_and_gymnasium_ids_are_python(spec):
    # an id with a namespace holds a slash, and was taken for a path
    assert env_kind(spec) == "python"


@pytest.mark.parametrize("spec", ["cartpol", "", 3])
def test_anything_else_is_refused(spec):
    with pytest.raises(UnknownEnvironmentError, match=r"unknown environment|a name or spec string"):
        env_kind(spec)
