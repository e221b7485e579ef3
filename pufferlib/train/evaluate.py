"""Evaluating a checkpoint: run its policy for N episodes and report return and length statistics."""
import numpy as np
import torch

from pufferlib._native.protocol import EpisodeStats
from pufferlib.envs import make_vecenvs
from pufferlib.train import checkpoint as ckpt
from pufferlib.train.config import Config
from pufferlib.train.kernel import make_learner

__all__ = ["evaluate"]


def evaluate(env, checkpoint="latest", data_dir="runs", episodes=100, deterministic=False, num_envs=None,
             seed=None, video=None, video_fps=30):
    """Runs a trained policy on `env` until `episodes` episodes have finished.

    Every environment row contributes the same number of episodes (the first ones it finishes), so
    short episodes are not over-represented.

    Args:
        env: the ENV spec the checkpoint was trained on.
        checkpoint: a checkpoint file, a run directory (its newest checkpoint) or 'latest' (the
            newest checkpoint of `env` under `data_dir`).
        data_dir: where 'latest' looks.
        episodes: how many episodes to average over.
        deterministic: take the most likely action instead of sampling.
        num_envs: environments to run at once (default: min(episodes, the run's num_envs)).
        seed: environment seed; None for the run's own (environments such as bandit draw their hidden
            task from the seed, so another seed is another task).
        video: optional path of a .gif/.mp4 recording of the first environment's episodes. C
            environments draw in software; Python environments draw themselves and are made with
            render_mode="rgb_array" when their creator takes it (gymnasium:ID always does).
        video_fps: frames per second of the video.

    Returns:
        dict: episodes, mean_return, std_return, mean_length, std_length, returns, lengths, checkpoint,
        and stats: the means of the environment's own statistics (score, wins, ...) over the
        episodes that finished while evaluating.

    Raises:
        CheckpointError: missing or incompatible checkpoint, or an environment whose spaces differ
            from those the checkpoint was trained on.
    """
    if not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
    policy, data = ckpt.load_policy(checkpoint, env, data_dir)
    config = Config.from_dict(data["config"], source=f"the config saved in {data['path']}")
    config.env.num_envs = num_envs or max(1, min(episodes, config.env.num_envs))
    config.train.device, config.train.compile, config.train.bf16 = "cpu", False, False  # eval runs on the CPU
    seed = config.train.seed if seed is None else seed
    (vecenv,) = make_vecenvs(env, config, seed, groups=1, render=video is not None)
    try:
        ckpt.check_env_spec(data, env, vecenv.env_spec)
        result = _run(vecenv, policy, config, episodes, deterministic, seed, video, video_fps)
    finally:
        vecenv.close()
    result["checkpoint"] = str(data["path"])
    return result


def _run(vecenv, policy, config, episodes, deterministic, seed, video, video_fps):
    learner = make_learner(policy, config.train, torch.device("cpu"), seed=seed)  # the training fast path
    generator = torch.Generator().manual_seed(seed)
    rows = vecenv.num_agents
    quota = -(-episodes // rows)
    returns = [[] for _ in range(rows)]
    lengths = [[] for _ in range(rows)]
    running_return = np.zeros(rows)
    running_length = np.zeros(rows, np.int64)
    state = policy.initial_state(rows) if policy.recurrent else None
    starts = torch.ones(rows, dtype=torch.bool)
    obs, _ = vecenv.reset(seed=seed)
    frames = []
    stats = EpisodeStats()  # the env's own statistics (score, wins, ...) of the episodes played
    while min(len(r) for r in returns) < quota:
        if video is not None and len(returns[0]) < quota:
            frames.append(vecenv.render(0))
        actions, _, _, _, state = learner.act(obs, state, starts, generator, deterministic,
                                              action_masks=vecenv.action_masks)
        obs, rewards, terminals, truncations, infos = vecenv.step(np.asarray(actions))
        stats.merge(infos)
        present = vecenv.masks
        running_return += rewards * present
        running_length += present
        done = np.logical_or(terminals, truncations)
        for row in np.flatnonzero(done):
            if len(returns[row]) < quota:
                returns[row].append(float(running_return[row]))
                lengths[row].append(int(running_length[row]))
            running_return[row] = 0.0
            running_length[row] = 0
        starts = torch.from_numpy(done.copy())
    if video is not None:
        from pufferlib.render import write_video
        write_video(frames, video, fps=video_fps)
    # the k-th episode of every row before any row's (k+1)-th, cut at `episodes`
    flat_returns = np.array([r[k] for k in range(quota) for r in returns])[:episodes]
    flat_lengths = np.array([x[k] for k in range(quota) for x in lengths])[:episodes]
    return {"episodes": int(flat_returns.size), "mean_return": float(flat_returns.mean()),
            "std_return": float(flat_returns.std()), "mean_length": float(flat_lengths.mean()),
            "std_length": float(flat_lengths.std()), "returns": flat_returns.tolist(),
            "lengths": flat_lengths.tolist(),
            "stats": {k: v for k, v in stats.means().items()
                      if k not in ("episode_return", "episode_length")}}
