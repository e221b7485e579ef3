"""The Ray backend: Ray actors each step several environments, on this machine or a cluster.

Each actor owns an EnvGroup on its own buffers and returns its rows after every step; the parent
copies them into its buffers (Ray moves the arrays through its object store). Actor 0 makes the
first environment and returns its spec (spaces, rows, layouts); every actor then builds its
environments (actor 0 keeps its first one) and checks them against that spec. Batches are made of
whole actors, as in the multiprocessing backend: with `batch_size < num_envs`, `recv()` returns
the first actors to finish while the others keep stepping. Ray is optional:
`pip install ray`.
"""
from pufferlib.environment import Buffers
from pufferlib.errors import WorkerError, WorkerTimeoutError
from pufferlib.vector._base import EnvGroup, WorkerPool, first_env
from pufferlib.vector.multiprocessing import split_envs

__all__ = ["Ray"]

_OUTPUTS = tuple(name for name in Buffers.NAMES if name != "actions")


def _import_ray():
    try:
        import ray
    except ImportError as error:
        raise ImportError("the 'ray' backend needs Ray: pip install ray") from error
    return ray


class _Worker:
    """The actor: environments `first` .. `first + count - 1` on buffers of its own."""

    def __init__(self, env_creator, env_kwargs, first, count, check_observations):
        self.args = env_creator, env_kwargs, first, count
        self.check_observations = check_observations
        self.env0 = None
        self.group = None

    def first_env(self):
        """Makes environment `first` (the vector env's first, on actor 0) and returns its EnvSpec."""
        env_creator, env_kwargs, _, _ = self.args
        self.env0, spec = first_env(env_creator, env_kwargs, self.check_observations)
        return spec

    def build(self, spec):
        """Makes the other environments and wraps them all on this actor's buffers."""
        env_creator, env_kwargs, first, count = self.args
        self.buffers = Buffers(spec.single_observation_space, spec.single_action_space,
                               count * spec.agents_per_env)
        arrays = {name: getattr(self.buffers, name) for name in Buffers.NAMES}
        env0, self.env0 = self.env0, None  # the group owns it now
        self.group = EnvGroup(env_creator, env_kwargs, first, count, spec, arrays, self.check_observations,
                              env0)

    def reset(self, seed):
        self.group.reset(seed)
        return self._outputs()

    def step(self, actions):
        self.buffers.actions[...] = actions
        self.group.step()
        return self._outputs()

    def render(self, env_index):
        return self.group.render(env_index)

    def close(self):
        if self.group is not None:
            self.group.close()
        elif self.env0 is not None:
            self.env0.close()

    def _outputs(self):
        return {name: getattr(self.buffers, name) for name in _OUTPUTS}, self.group.stats.pop()


class Ray(WorkerPool):
    """`num_envs` environments stepped by Ray actors (see the module docstring).

    Args:
        env_creator: a picklable callable returning a PufferEnv, a gymnasium.Env or a PettingZoo
            ParallelEnv (wrapped by pufferlib.emulation in the actor); each actor calls it once for
            each of its envs (num_envs calls in all).
        num_envs: how many environments.
        num_workers: actors, or 'auto' (one per CPU Ray reports, as split_envs chooses).
        batch_size: envs per recv(); None means num_envs.
        seed: env i is seeded with seed + i.
        env_kwargs: keyword arguments for env_creator.
        timeout: seconds to wait for a step or reset before WorkerTimeoutError (None: forever).
        startup_timeout: seconds to wait for actor 0 to start and make the first env, then for
            every actor to make its envs (actors that cannot be scheduled for lack of CPUs end up
            here).
        address: a Ray cluster to connect to when Ray is not initialised yet (None starts a local
            instance; 'auto' finds a running cluster).
        actor_options: passed to `ray.remote(...).options()` (e.g. {"num_cpus": 0.5}).
        check_observations: how emulated envs check observations and rewards: "first", "always"
            or "never" (see GymnasiumPufferEnv).

    Raises:
        ImportError: Ray is not installed.
        WorkerError: an environment could not be created in an actor (with its traceback), or its
            spaces differ from those of the first environment.
    """

    def __init__(self, env_creator, num_envs, num_workers="auto", batch_size=None, seed=0,
                 env_kwargs=None, timeout=None, address=None, actor_options=None, startup_timeout=120,
                 check_observations="first"):
        ray = self._ray = _import_ray()
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        cores = max(1, int(ray.cluster_resources().get("CPU", 1)))
        sizes, batch_size = split_envs(num_envs, num_workers, batch_size, cores=cores)
        self._init_pool(sizes, batch_size, timeout)
        self._pending = {}          # object ref -> worker
        remote = ray.remote(_Worker).options(**({"num_cpus": 1} | dict(actor_options or {})))
        # every actor starts at once; actor 0 makes the first env meanwhile
        self._actors = [remote.remote(env_creator, env_kwargs, int(self._first[w]), count, check_observations)
                        for w, count in enumerate(sizes)]
        try:
            (spec,) = self._get([self._actors[0].first_env.remote()], [0], "creating its envs",
                                startup_timeout)
            self._use_spec(spec)
            full = Buffers(self.single_observation_space, self.single_action_space,
                           num_envs * self.agents_per_env)
            self._use_buffers({name: getattr(full, name) for name in Buffers.NAMES})
            self._init_protocol(seed)
            self._get([a.build.remote(spec) for a in self._actors], range(self.num_workers),
                      "creating its envs", startup_timeout)
        except BaseException:
            self._close()
            raise

    # ---- backend methods ----

    def _reset(self, seed):
        if self._pending:
            self._get(list(self._pending), list(self._pending.values()), "stepping")
            self._pending.clear()
        results = self._get([a.reset.remote(seed) for a in self._actors], range(self.num_workers),
                            "resetting its envs")
        for w, result in enumerate(results):
            self._store(w, result)
        self._restart_batches()

    def _send(self):
        self._scatter_actions()
        for w in self._current:
            self._pending[self._actors[w].step.remote(self._full["actions"][self._rows(w)])] = w

    def _recv(self):
        need = self._batch_workers
        while len(self._ready) < need:
            refs = list(self._pending)
            done, _ = self._ray.wait(refs, num_returns=1, timeout=self.timeout)
            if not done:
                reason = (f"workers {sorted(self._pending.values())} did not finish stepping within "
                          f"timeout={self.timeout} s")
                error = WorkerTimeoutError(f"{reason}; call recv() to keep waiting, "
                                           "or close() the vector env")
                error.reason = reason
                raise error
            for ref in done:
                w = self._pending.pop(ref)
                self._store(w, self._get([ref], [w], "stepping")[0])
                self._ready.append(w)
        self._take_batch()
        return self._stats.pop()

    def _render(self, env_index):
        w = self._worker_of(env_index)  # the actor runs its calls in order: a pending step comes first
        return self._get([self._actors[w].render.remote(env_index)], [w], "rendering")[0]

    def _close(self):
        for actor in getattr(self, "_actors", []):
            try:
                self._ray.kill(actor)
            except Exception:  # already dead: nothing to shut down
                pass
        self._actors = []
        self._pending = {}

    # ---- helpers ----

    def _store(self, w, result):
        arrays, stats = result
        rows = self._rows(w)
        for name, array in arrays.items():
            self._full[name][rows] = array
        self._stats.merge(stats)

    def _get(self, refs, workers, doing, timeout=False):
        """ray.get with pufferlib's errors: a worker's exception, its death, or a timeout."""
        ray = self._ray
        workers = list(workers)
        timeout = self.timeout if timeout is False else timeout
        try:
            return ray.get(refs, timeout=timeout)
        except ray.exceptions.GetTimeoutError:
            raise WorkerTimeoutError(f"workers {workers} did not finish {doing} within timeout={timeout} s"
                                     + (" (an actor that cannot be scheduled for lack of CPUs waits here)"
                                        if doing == "creating its envs" else "")) from None
        except ray.exceptions.RayActorError as error:
            text = getattr(error, "error_msg", "") or str(error)
            if getattr(error, "_actor_init_failed", False):  # its env creator raised
                last = text.strip().splitlines()[-1] if text.strip() else "an error"
                name, _, message = last.partition(": ")
                raise WorkerError(f"a worker among {workers} raised {name} while {doing}: {message}"
                                  f"\n\nWorker traceback:\nTraceback (in the Ray actor):\n{text}") from None
            reason = (f"a Ray actor among workers {workers} died while {doing} "
                      f"({text.splitlines()[0] if text else type(error).__name__})")
            died = WorkerError(f"{reason}; the vector env cannot continue: close() it and make a new one")
            died.reason = reason
            raise died from None
        except ray.exceptions.RayTaskError as error:
            cause = getattr(error, "cause", None) or error
            raise WorkerError(f"a worker among {workers} raised {type(cause).__name__} while {doing}: "
                              f"{cause}\n\nWorker traceback:\nTraceback (in the Ray actor):\n{error}"
                              ) from None
