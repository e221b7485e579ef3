"""The advantage kernels against a plain reference (float64 loops, used only here)."""
import numpy as np
import pytest

from pufferlib.train import compute_advantages, compute_advantages_torch


def reference(values, next_values, rewards, dones, ratios, gamma, lam, rho_clip=1.0, c_clip=1.0):
    """GAE with V-trace clipping, one step at a time in float64."""
    segments, horizon = values.shape
    out = np.zeros((segments, horizon))
    for s in range(segments):
        last = 0.0
        for t in reversed(range(horizon)):
            rho = min(float(ratios[s, t]), rho_clip)
            c = min(float(ratios[s, t]), c_clip)
            delta = rho * (rewards[s, t] + gamma * next_values[s, t] - values[s, t])
            last = delta + gamma * lam * c * (1.0 - float(dones[s, t])) * last
            out[s, t] = last
    return out


def batch(segments=16, horizon=32, seed=0, ratio_spread=0.5):
    rng = np.random.default_rng(seed)
    shape = (segments, horizon)
    return dict(
        values=rng.normal(size=shape).astype(np.float32),
        next_values=rng.normal(size=shape).astype(np.float32),
        rewards=rng.normal(size=shape).astype(np.float32),
        dones=rng.random(shape) < 0.1,
        ratios=np.exp(rng.normal(scale=ratio_spread, size=shape)).astype(np.float32),
    )


@pytest.mark.parametrize("rho_clip, c_clip", [(1.0, 1.0), (2.0, 0.5), (1e9, 1e9)])
def test_kernel_matches_the_reference(rho_clip, c_clip):
    b = batch()
    got = compute_advantages(**b, gamma=0.99, gae_lambda=0.95, rho_clip=rho_clip, c_clip=c_clip)
    expected = reference(*b.values(), 0.99, 0.95, rho_clip, c_clip)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_ratio_one_is_plain_gae_whatever_the_clips():
    b = batch(ratio_spread=0.0)
    plain = compute_advantages(**b, gamma=0.9, gae_lambda=0.8)
    clipped = compute_advantages(**b, gamma=0.9, gae_lambda=0.8, rho_clip=5.0, c_clip=3.0)
    assert np.array_equal(plain, clipped)


def test_termination_and_truncation_cut_the_trace_and_bootstrap_differently():
    # step 0 then step 1 that ends the episode; step 2 starts a new one and ends the segment
    values = np.array([[1.0, 2.0, 3.0]], np.float32)
    rewards = np.array([[1.0, 1.0, 1.0]], np.float32)
    ratios = np.ones((1, 3), np.float32)
    dones = np.array([[False, True, False]])
    for final_value, label in ((0.0, "terminated"), (10.0, "truncated")):
        next_values = np.array([[2.0, final_value, 4.0]], np.float32)
        adv = compute_advantages(values, next_values, rewards, dones, ratios, gamma=0.5, gae_lambda=1.0)
        step2 = 1.0 + 0.5 * 4.0 - 3.0
        step1 = 1.0 + 0.5 * final_value - 2.0          # bootstraps from the final value only
        step0 = (1.0 + 0.5 * 2.0 - 1.0) + 0.5 * step1  # continues into step 1, not into step 2
        np.testing.assert_allclose(adv, [[step0, step1, step2]], err_msg=label)


def test_one_thread_and_two_threads_are_bit_identical():
    b = batch(segments=257, horizon=64, seed=3)
    one = compute_advantages(**b, gamma=0.99, gae_lambda=0.95, num_threads=1)
    two = compute_advantages(**b, gamma=0.99, gae_lambda=0.95, num_threads=2)
    assert np.array_equal(one, two)


def test_out_is_written_in_place_and_uint8_dones_are_accepted():
    b = batch()
    b["dones"] = b["dones"].astype(np.uint8)
    out = np.full(b["values"].shape, np.nan, np.float32)
    result = compute_advantages(**b, gamma=0.99, gae_lambda=0.95, out=out)
    assert result is out and np.isfinite(out).all()


def test_torch_version_matches_the_kernel():
    torch = pytest.importorskip("torch")
    b = batch(seed=5)
    expected = compute_advantages(**b, gamma=0.99, gae_lambda=0.95, rho_clip=1.5, c_clip=0.9)
    tensors = {k: torch.from_numpy(v) for k, v in b.items()}
    got = compute_advantages_torch(**tensors, gamma=0.99, gae_lambda=0.95, rho_clip=1.5, c_clip=0.9)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, value, error, match", [
    ("rewards", np.zeros((16, 31), np.float32), ValueError, r"rewards must have shape \(16, 32\) \(segments, horizon\), got \(16, 31\)"),
    ("ratios", np.ones((16, 32), np.float64), TypeError, r"ratios must be float32, got float64"),
    ("dones", np.zeros((16, 32), np.int64), TypeError, r"dones must be uint8, got int64"),
    ("next_values", [[0.0]], TypeError, r"next_values must be a numpy array of float32 with shape \(16, 32\), got list"),
    ("values", np.zeros(32, np.float32), ValueError, r"values must be a 2-D float32 array \(segments, horizon\), got \(32,\)"),
])
def test_bad_inputs_are_named(name, value, error, match):
    b = batch()
    b[name] = value
    with pytest.raises(error, match=match):
        compute_advantages(**b, gamma=0.99, gae_lambda=0.95)


def test_torch_version_rejects_mismatched_shapes():
    torch = pytest.importorskip("torch")
    b = {k: torch.from_numpy(v) for k, v in batch().items()}
    b["rewards"] = b["rewards"][:, :5]
    with pytest.raises(ValueError, match="must share one 2-D shape"):
        compute_advantages_torch(**b, gamma=0.99, gae_lambda=0.95)
