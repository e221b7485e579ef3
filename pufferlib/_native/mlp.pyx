"""The default actor-critic MLP in C: rollout inference and a whole PPO minibatch step per call.

The weights stay where the caller keeps them (numpy views of torch tensors, say) and are updated in
place; the kernel owns only Adam's state and its workspaces. See csrc/puffer_mlp.h for the network,
the loss and how rows are split over threads.
"""
import numpy as np

cimport numpy as cnp
from cython.parallel cimport prange, threadid
from libc.math cimport isfinite, sqrt
from libc.string cimport memcpy
from libc.stdint cimport int32_t, int64_t, uint8_t, uintptr_t

from pufferlib._native.mlp cimport *
from pufferlib._native.simd cimport puffer_mlp_isa, puffer_mlp_isa_limit, puffer_mlp_sum_partials
from pufferlib._native.lstm cimport (PufferLSTM, PufferLSTMData, puffer_lstm_adam, puffer_lstm_backward_chunk,
                                     puffer_lstm_forward_chunk, puffer_lstm_grad_floats, puffer_lstm_layout,
                                     puffer_lstm_prepare)

from pufferlib._native.arrays import check_array, describe

cnp.import_array()

__all__ = ["ActorCriticKernel", "RecurrentKernel"]

_ACTIVATIONS = {"relu": PUFFER_MLP_RELU, "tanh": PUFFER_MLP_TANH}
_STAT_NAMES = ("policy_loss", "value_loss", "entropy", "approx_kl", "old_approx_kl", "clipfrac")


cdef void* _data(str name, object array, object dtype, int typenum, Py_ssize_t n0, Py_ssize_t n1, int ndim,
                 bint writeable=False) except? NULL:
    """The data pointer of a C-contiguous array of dtype (typenum) and shape (n0[, n1]), -1 meaning any
    size; anything else goes to check_array, which raises saying what arrived."""
    cdef cnp.ndarray a
    if type(array) is np.ndarray:
        a = <cnp.ndarray> array
        if (cnp.PyArray_TYPE(a) == typenum and cnp.PyArray_ISNOTSWAPPED(a) and cnp.PyArray_NDIM(a) == ndim
                and (n0 < 0 or cnp.PyArray_DIM(a, 0) == n0)
                and (ndim < 2 or n1 < 0 or cnp.PyArray_DIM(a, 1) == n1)
                and cnp.PyArray_IS_C_CONTIGUOUS(a) and (not writeable or cnp.PyArray_ISWRITEABLE(a))):
            return cnp.PyArray_DATA(a)
    shape = (None if n0 < 0 else n0,) + ((None if n1 < 0 else n1,) if ndim == 2 else ())
    return cnp.PyArray_DATA(check_array(name, array, dtype, shape, writeable))


cdef class ActorCriticKernel:
    """Separate actor and critic MLP towers in C, for rollouts and PPO minibatch updates.

    The towers are `x -> [Linear, act] * num_layers -> Linear`, the actor's head giving the action
    parameters and the critic's one value, with torch's Linear layout (W: (out, in), b: (out,)).
    Action rows have one entry per nvec element: a categorical one where nvec[c] > 0, a continuous one
    (a Normal with a learned state-independent log-std) where nvec[c] == 0; the actor head gives the
    logits of the categorical entries in order, then the means of the continuous ones, as
    pufferlib.train.policies.ActionDistribution. The arrays given here are read and written in place
    by every call, so numpy views of a torch module's parameters keep the module, its checkpoints and
    its exports in step with the kernel.

    Args:
        actor_layers: list of (W, b) float32 C-contiguous arrays, the actor's hidden layers; the
            first W is (H, D), the others (H, H), every b (H,).
        actor_head: (W, b) of the actor's output layer: (A, H) and (A,), A = sum(nvec) plus the
            number of continuous entries.
        critic_layers: the critic's hidden layers, shaped like actor_layers.
        critic_head: (W, b) of the critic's output layer: (1, H) and (1,).
        nvec: action sizes, one per entry: [n] for Discrete(n), list(nvec) for MultiDiscrete, 0 for a
            continuous entry (Box, or the continuous leaves of a mixed action space).
        activation: "relu" or "tanh".
        num_threads: OpenMP threads over chunks of 64 rows; results do not depend on it. One call at
            a time per kernel: calls share its workspaces (and release the GIL).
        betas: Adam's (beta1, beta2).
        adam_eps: Adam's epsilon (1e-5, as cleanrl's PPO uses).
        log_std: float32 (C,) log standard deviations of the C continuous entries (updated in place
            like the weights); required exactly when nvec has zeros.

    Raises:
        TypeError: an array that is not float32 numpy, or a malformed argument.
        ValueError: inconsistent shapes, non-contiguous or read-only arrays, bad sizes or settings.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> def linear(i, o):
        ...     return (rng.normal(size=(o, i)).astype(np.float32), np.zeros(o, np.float32))
        >>> kernel = ActorCriticKernel([linear(4, 8)], linear(8, 2), [linear(4, 8)], linear(8, 1), [2])
        >>> obs = rng.normal(size=(3, 4)).astype(np.float32)
        >>> logits, values = np.empty((3, 2), np.float32), np.empty(3, np.float32)
        >>> kernel.forward(obs, logits, values)
        >>> logits.shape, values.shape
        ((3, 2), (3,))
    """

    cdef PufferMLP net
    cdef list _arrays
    cdef tuple _names
    cdef int32_t[::1] _nvec
    cdef float[::1] _grad, _m, _v, _ws, _partials, _row_stats, _log_std
    cdef float* _ws_base
    cdef long _step
    cdef int _num_threads
    cdef float _beta1, _beta2, _eps

    def __init__(self, actor_layers, actor_head, critic_layers, critic_head, nvec, activation="relu",
                 num_threads=1, betas=(0.9, 0.999), adam_eps=1e-5, log_std=None):
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
            raise ValueError(f"num_threads must be a positive integer, got {num_threads!r}")
        try:
            nvec = [int(n) for n in nvec]
        except (TypeError, ValueError):
            raise TypeError(f"nvec must be a list of ints (action sizes), got {nvec!r}") from None
        if not nvec or min(nvec) < 0:
            raise ValueError(f"nvec must be a non-empty list of positive action sizes (0 for a continuous "
                             f"entry), got {nvec}")
        num_continuous = nvec.count(0)
        if num_continuous and log_std is None:
            raise ValueError(f"nvec must be a non-empty list of positive action sizes, or have its 0s "
                             f"(continuous entries) matched by a log_std array; got {nvec} without log_std "
                             f"(pass log_std=policy.log_std.detach().numpy())")
        if not num_continuous and log_std is not None:
            raise ValueError(f"log_std must be None when nvec has no continuous entry (no 0), got "
                             f"{describe(log_std)} for nvec={nvec}")
        if not isinstance(betas, (tuple, list)) or len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
        if not adam_eps > 0:
            raise ValueError(f"adam_eps must be positive, got {adam_eps!r}")
        towers = (("actor", actor_layers, actor_head), ("critic", critic_layers, critic_head))
        for tower, layers, head in towers:
            if not isinstance(layers, (list, tuple)) or not 1 <= len(layers) <= PUFFER_MLP_MAX_LAYERS:
                raise ValueError(f"{tower}_layers must be a list of 1 to {PUFFER_MLP_MAX_LAYERS} (W, b) pairs, "
                                 f"got {describe(layers) if not isinstance(layers, (list, tuple)) else len(layers)}")
            for i, pair in enumerate(list(layers) + [head]):
                if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                    where = f"{tower}_layers[{i}]" if i < len(layers) else f"{tower}_head"
                    raise TypeError(f"{where} must be a (W, b) pair of arrays, got {describe(pair)}")
        if len(critic_layers) != len(actor_layers):
            raise ValueError(f"critic_layers must have as many layers as actor_layers ({len(actor_layers)}), "
                             f"got {len(critic_layers)}")
        first = actor_layers[0][0]
        if not isinstance(first, np.ndarray) or first.ndim != 2:
            check_array("actor_layers[0] W", first, np.float32, (None, None))
        hidden, obs_dim = first.shape
        if hidden < 1 or obs_dim < 1:
            raise ValueError(f"actor_layers[0] W must be (hidden, obs_dim) with both positive, got {first.shape}")
        num_layers = len(actor_layers)
        outputs = {"actor": sum(nvec) + num_continuous, "critic": 1}

        self._arrays = []
        names = []
        self._nvec = np.asarray(nvec, dtype=np.int32)
        self.net.obs_dim = obs_dim
        self.net.hidden = hidden
        self.net.num_layers = num_layers
        self.net.activation = _ACTIVATIONS[activation]
        self.net.num_components = len(nvec)
        self.net.nvec = &self._nvec[0]
        cdef float[:, ::1] w
        cdef float[::1] b
        for t, (tower, layers, head) in enumerate(towers):
            for l, (W, bias) in enumerate(list(layers) + [head]):
                prefix = f"{tower}.{l}" if l < num_layers else f"{tower}_head"
                where = f"{tower}_layers[{l}]" if l < num_layers else f"{tower}_head"
                in_dim = obs_dim if l == 0 else hidden
                out_dim = hidden if l < num_layers else outputs[tower]
                w = check_array(f"{where} W", W, np.float32, (out_dim, in_dim), writeable=True)
                b = check_array(f"{where} b", bias, np.float32, (out_dim,), writeable=True)
                self.net.weight[t][l] = &w[0, 0]
                self.net.bias[t][l] = &b[0]
                self._arrays += [W, bias]
                names += [f"{prefix}.weight", f"{prefix}.bias"]
        self.net.log_std = NULL
        if num_continuous:
            self._log_std = check_array("log_std", log_std, np.float32, (num_continuous,), writeable=True)
            self.net.log_std = &self._log_std[0]
            self._arrays.append(log_std)
            names.append("log_std")
        self._names = tuple(names)
        puffer_mlp_layout(&self.net)

        self._num_threads = num_threads
        self._beta1, self._beta2 = float(betas[0]), float(betas[1])
        self._eps = float(adam_eps)
        self._step = 0
        self._grad = np.zeros(self.net.num_params, np.float32)
        self._m = np.zeros(self.net.num_params, np.float32)
        self._v = np.zeros(self.net.num_params, np.float32)
        # one workspace per thread, each 64-byte aligned
        cdef long per_thread = self.net.workspace_floats
        self._ws = np.zeros(num_threads * per_thread + 16, np.float32)
        cdef long skip = ((64 - (<uintptr_t> &self._ws[0]) % 64) % 64) // 4
        self._ws_base = &self._ws[skip]
        self._partials = np.zeros(0, np.float32)
        self._row_stats = np.zeros(0, np.float32)

    @property
    def parameter_names(self):
        """Names of the weights in order, as torch would name them ("actor.0.weight", "critic_head.bias")."""
        return self._names

    @property
    def step(self):
        """Adam steps taken so far."""
        return self._step

    @property
    def num_actions(self):
        """Action parameters per row (the actor head's outputs): sum(nvec) logits, then the means."""
        return self.net.num_actions

    def forward(self, obs, logits_out, values_out):
        """Inference for rollouts: the actor's logits and the critic's values of a batch of observations.

        Args:
            obs: float32 (N, D) observations.
            logits_out: float32 (N, A) array the logits are written into.
            values_out: float32 (N,) array the values are written into.

        Raises:
            TypeError, ValueError: an array of the wrong type, dtype, shape or layout.
        """
        cdef const float* o = <const float*> _data("obs", obs, np.float32, cnp.NPY_FLOAT32, -1,
                                                   self.net.obs_dim, 2)
        cdef long n = obs.shape[0]
        cdef float* lg = <float*> _data("logits_out", logits_out, np.float32, cnp.NPY_FLOAT32, n,
                                        self.net.num_actions, 2, True)
        cdef float* v = <float*> _data("values_out", values_out, np.float32, cnp.NPY_FLOAT32, n, -1, 1, True)
        if n == 0:
            return
        cdef long chunks = (n + PUFFER_MLP_CHUNK - 1) // PUFFER_MLP_CHUNK, c, rows, first
        cdef int D = self.net.obs_dim, A = self.net.num_actions
        cdef int threads = self._num_threads if self._num_threads < chunks else chunks
        cdef long per_thread = self.net.workspace_floats
        cdef const PufferMLP* net = &self.net
        cdef float* ws = self._ws_base
        with nogil:
            if threads == 1:
                for c in range(chunks):
                    first = c * PUFFER_MLP_CHUNK
                    rows = min(PUFFER_MLP_CHUNK, n - first)
                    puffer_mlp_forward_chunk(net, o + first * D, rows, lg + first * A, v + first, ws)
            else:
                for c in prange(chunks, schedule='static', num_threads=threads):
                    first = c * PUFFER_MLP_CHUNK
                    rows = min(PUFFER_MLP_CHUNK, n - first)
                    puffer_mlp_forward_chunk(net, o + first * D, rows, lg + first * A, v + first,
                                             ws + threadid() * per_thread)

    def update(self, obs, actions, old_logprobs, advantages, returns, old_values, indices, *, lr, clip_coef,
               vf_coef, ent_coef, max_grad_norm, norm_adv=True, clip_vloss=False, vf_clip_coef=0.2,
               action_masks=None):
        """One PPO minibatch step: loss, gradient, global grad-norm clip and an Adam step, in place.

        The loss is cleanrl's: the clipped surrogate, vf_coef times half the mean squared value error
        (with the clipped value's when clip_vloss), minus ent_coef times the mean entropy; advantages
        are normalized over the minibatch when norm_adv. Gradients are scaled by
        max_grad_norm / (norm + 1e-6) when that is below 1 (torch's clip_grad_norm_; no clipping
        when max_grad_norm <= 0), then torch.optim.Adam's update is applied. When the grad norm or
        the policy loss, value loss or entropy is NaN or infinite, no step is taken (the weights and
        Adam's state stay as they were); the returned statistics say so.

        Args:
            obs: float32 (B, D) observations of the whole batch.
            actions: int32 (B, k) actions, k = len(nvec) ((B,) also accepted when k is 1); float32
                (B, k) when nvec has continuous entries, categorical ones holding whole numbers. A NaN or
                infinite continuous value makes the loss or gradient non-finite (no step, as above).
            old_logprobs: float32 (B,) log-probabilities of the actions under the rollout policy.
            advantages: float32 (B,).
            returns: float32 (B,) value targets.
            old_values: float32 (B,) values under the rollout policy (for clip_vloss).
            indices: int64 (n,) rows of the batch that form the minibatch (repeats allowed).
            lr: Adam learning rate.
            clip_coef: PPO's ratio clip.
            vf_coef: value loss weight.
            ent_coef: entropy bonus weight.
            max_grad_norm: global gradient norm limit (<= 0: none).
            norm_adv: normalize the minibatch's advantages (mean 0, unbiased std 1).
            clip_vloss: clip the value update around old_values.
            vf_clip_coef: the value clip.
            action_masks: bool (B, sum of the categorical sizes): False where a choice was illegal
                for the row (its probability is 0), or None when every choice is legal.

        Returns:
            A dict of python floats: policy_loss, value_loss, entropy, approx_kl, old_approx_kl,
            clipfrac and grad_norm (before clipping).

        Raises:
            TypeError, ValueError: an array of the wrong type, dtype, shape or layout; a categorical
                action outside its space; fewer than 2 rows with norm_adv.
            IndexError: an index outside the batch.
        """
        stats = self._minibatch(obs, actions, old_logprobs, advantages, returns, old_values, indices,
                                clip_coef, vf_coef, ent_coef, norm_adv, clip_vloss, vf_clip_coef, action_masks)
        cdef double norm = stats["grad_norm"]
        cdef float scale = 1.0
        if not (isfinite(norm) and isfinite(stats["policy_loss"]) and isfinite(stats["value_loss"])
                and isfinite(stats["entropy"])):
            return stats  # a NaN or inf would spread to every weight: no step
        if max_grad_norm > 0:
            scale = min(1.0, <float> max_grad_norm / <float> (norm + 1e-6))
        self._step += 1
        cdef double rate = lr
        with nogil:
            puffer_mlp_adam(&self.net, &self._grad[0], scale, &self._m[0], &self._v[0], self._step, rate,
                            self._beta1, self._beta2, self._eps)
        return stats

    def gradients(self, obs, actions, old_logprobs, advantages, returns, old_values, indices, *, clip_coef,
                  vf_coef, ent_coef, norm_adv=True, clip_vloss=False, vf_clip_coef=0.2, action_masks=None):
        """The gradient of update()'s loss, before clipping, without changing weights or Adam's state.

        Takes update()'s arguments less those of the optimizer (lr, max_grad_norm).

        Returns:
            (grads, stats): a dict of float32 arrays by parameter name (shaped like the weights), and
            update()'s dict of loss statistics.

        Raises:
            As update().
        """
        stats = self._minibatch(obs, actions, old_logprobs, advantages, returns, old_values, indices,
                                clip_coef, vf_coef, ent_coef, norm_adv, clip_vloss, vf_clip_coef, action_masks)
        flat = np.asarray(self._grad).copy()
        return self._unflatten(flat), stats

    def state_dict(self):
        """Adam's state: {"step": int, "exp_avg/<name>": array, "exp_avg_sq/<name>": array} (copies)."""
        state = {"step": self._step}
        m, v = self._unflatten(np.asarray(self._m).copy()), self._unflatten(np.asarray(self._v).copy())
        for name in self._names:
            state[f"exp_avg/{name}"] = m[name]
            state[f"exp_avg_sq/{name}"] = v[name]
        return state

    def load_state_dict(self, state):
        """Restores Adam's state from state_dict()'s output.

        Raises:
            TypeError: state is not a dict, or an entry is not an array of real numbers.
            ValueError: keys missing or unexpected, shapes that differ from the weights', a negative step.
        """
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict from state_dict(), got {type(state).__name__}")
        expected = {"step"} | {f"{kind}/{name}" for kind in ("exp_avg", "exp_avg_sq") for name in self._names}
        if set(state) != expected:
            missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
            raise ValueError(f"state must have the keys of state_dict(); missing {missing}, unexpected {extra}")
        step = state["step"]
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise ValueError(f"state['step'] must be a non-negative int, got {step!r}")
        shapes = self._shapes()
        m = np.empty(self.net.num_params, np.float32)
        v = np.empty(self.net.num_params, np.float32)
        offset = 0
        for name, shape in zip(self._names, shapes):
            size = int(np.prod(shape))
            for kind, flat in (("exp_avg", m), ("exp_avg_sq", v)):
                value = np.asarray(state[f"{kind}/{name}"])
                if not np.issubdtype(value.dtype, np.floating):
                    raise TypeError(f"state['{kind}/{name}'] must be a float array, got {value.dtype}")
                if value.shape != shape:
                    raise ValueError(f"state['{kind}/{name}'] must have shape {shape}, got {value.shape}")
                flat[offset:offset + size] = value.ravel()
            offset += size
        np.asarray(self._m)[:] = m
        np.asarray(self._v)[:] = v
        self._step = int(step)

    def _shapes(self):
        shapes = []
        for t in range(2):
            for l in range(self.net.num_layers + 1):
                out_dim = self.net.hidden if l < self.net.num_layers else (self.net.num_actions if t == 0 else 1)
                in_dim = self.net.obs_dim if l == 0 else self.net.hidden
                shapes += [(out_dim, in_dim), (out_dim,)]
        if self.net.num_continuous:
            shapes.append((self.net.num_continuous,))
        return shapes

    def _unflatten(self, flat):
        out, offset = {}, 0
        for name, shape in zip(self._names, self._shapes()):
            size = int(np.prod(shape))
            out[name] = flat[offset:offset + size].reshape(shape)
            offset += size
        return out

    cdef long _prepare_batch(self, PufferPPOBatch* batch, PufferPPOConfig* cfg, obs, actions, old_logprobs,
                             advantages, returns, old_values, indices, masks, clip_coef, vf_coef, ent_coef,
                             norm_adv, clip_vloss, vf_clip_coef, action_masks) except -1:
        """Checks a minibatch and fills batch and cfg (advantage statistics included); returns its rows.

        The gradient partials and row statistics are sized for it. masks (bool (B,), or None) leaves the
        rows of absent agents out of the loss.
        """
        batch.obs = <const float*> _data("obs", obs, np.float32, cnp.NPY_FLOAT32, -1, self.net.obs_dim, 2)
        cdef long batch_rows = obs.shape[0]
        cdef int k = self.net.num_components
        if k == 1 and isinstance(actions, np.ndarray) and actions.ndim == 1:
            actions = actions.reshape(-1, 1)
        batch.actions = NULL
        batch.float_actions = NULL
        if self.net.num_continuous:
            batch.float_actions = <const float*> _data("actions", actions, np.float32, cnp.NPY_FLOAT32,
                                                       batch_rows, k, 2)
        else:
            batch.actions = <const int32_t*> _data("actions", actions, np.int32, cnp.NPY_INT32, batch_rows, k, 2)
        batch.old_logprobs = <const float*> _data("old_logprobs", old_logprobs, np.float32, cnp.NPY_FLOAT32,
                                                  batch_rows, -1, 1)
        batch.advantages = <const float*> _data("advantages", advantages, np.float32, cnp.NPY_FLOAT32,
                                                batch_rows, -1, 1)
        batch.returns = <const float*> _data("returns", returns, np.float32, cnp.NPY_FLOAT32, batch_rows, -1, 1)
        batch.old_values = <const float*> _data("old_values", old_values, np.float32, cnp.NPY_FLOAT32,
                                                batch_rows, -1, 1)
        batch.indices = <const int64_t*> _data("indices", indices, np.int64, cnp.NPY_INT64, -1, -1, 1)
        batch.masks = NULL
        if masks is not None:
            batch.masks = <const uint8_t*> _data("masks", masks, np.bool_, cnp.NPY_BOOL, batch_rows, -1, 1)
        batch.action_masks = NULL
        if action_masks is not None:
            if self.net.num_logits == 0:
                raise ValueError("action_masks were given for a policy without categorical actions; "
                                 "pass action_masks=None")
            batch.action_masks = <const uint8_t*> _data("action_masks", action_masks, np.bool_, cnp.NPY_BOOL,
                                                        batch_rows, self.net.num_logits, 2)
        cdef long n = indices.shape[0]
        if n == 0:
            raise ValueError("indices must select at least one row, got an empty array")
        if norm_adv and n < 2:
            raise ValueError(f"norm_adv needs at least 2 rows to take a standard deviation, got {n}; "
                             "pass norm_adv=False or a larger minibatch")
        cdef long chunks = (n + PUFFER_MLP_CHUNK - 1) // PUFFER_MLP_CHUNK
        cdef long P = self.net.num_params
        if self._partials.shape[0] < chunks * P:
            self._partials = np.zeros(chunks * P, np.float32)
        if self._row_stats.shape[0] < PUFFER_MLP_ROW_STATS * n:
            self._row_stats = np.zeros(PUFFER_MLP_ROW_STATS * n, np.float32)

        batch.n = n
        cfg.clip_coef = clip_coef
        cfg.vf_coef = vf_coef
        cfg.ent_coef = ent_coef
        cfg.vf_clip_coef = vf_clip_coef
        cfg.norm_adv = bool(norm_adv)
        cfg.clip_vloss = bool(clip_vloss)
        cfg.adv_mean = 0.0
        cfg.adv_std = 1.0

        cdef long bad_index, bad_action = -1, j, count = n
        cdef const PufferMLP* net = &self.net
        with nogil:
            bad_index = puffer_mlp_find_bad_index(batch.indices, n, batch_rows)
            if bad_index < 0:
                bad_action = puffer_mlp_find_bad_action(net, batch)
                if batch.masks:
                    count = 0
                    for j in range(n):
                        count += batch.masks[batch.indices[j]]
        if bad_index >= 0:
            raise IndexError(f"indices[{bad_index}] = {indices[bad_index]} is outside the batch of "
                             f"{batch_rows} rows (valid: 0 to {batch_rows - 1})")
        if bad_action >= 0:
            row = int(indices[bad_action])
            raise ValueError(f"actions[{row}] = {np.asarray(actions[row]).tolist()} is outside the action "
                             f"space nvec={np.asarray(self._nvec).tolist()} (each categorical entry must be a "
                             f"whole number in [0, n); 0 in nvec marks a continuous entry, which may be any "
                             f"number)")
        batch.count = count
        if cfg.norm_adv:
            with nogil:
                puffer_mlp_advantage_stats(batch, &cfg.adv_mean, &cfg.adv_std)
        return n

    def _minibatch(self, obs, actions, old_logprobs, advantages, returns, old_values, indices, clip_coef,
                   vf_coef, ent_coef, norm_adv, clip_vloss, vf_clip_coef, action_masks):
        """Checks the batch, then fills self._grad with the loss gradient; returns the loss statistics."""
        cdef PufferPPOBatch batch
        cdef PufferPPOConfig cfg
        cdef long n = self._prepare_batch(&batch, &cfg, obs, actions, old_logprobs, advantages, returns,
                                          old_values, indices, None, clip_coef, vf_coef, ent_coef, norm_adv,
                                          clip_vloss, vf_clip_coef, action_masks)
        cdef long chunks = (n + PUFFER_MLP_CHUNK - 1) // PUFFER_MLP_CHUNK, c
        cdef long P = self.net.num_params
        cdef const PufferMLP* net = &self.net
        cdef int threads = self._num_threads if self._num_threads < chunks else chunks
        cdef long per_thread = self.net.workspace_floats
        cdef float* ws = self._ws_base
        cdef float* partials = &self._partials[0]
        cdef float* row_stats = &self._row_stats[0]
        cdef float* grad = &self._grad[0]
        cdef double norm
        cdef PufferPPOStats s
        with nogil:
            if threads == 1:
                for c in range(chunks):
                    puffer_mlp_loss_chunk(net, &batch, &cfg, c, ws, partials + c * P, row_stats)
            else:
                for c in prange(chunks, schedule='static', num_threads=threads):
                    puffer_mlp_loss_chunk(net, &batch, &cfg, c, ws + threadid() * per_thread,
                                          partials + c * P, row_stats)
            puffer_mlp_sum_partials(partials, chunks, P, 0, P, grad)
            norm = puffer_mlp_grad_norm(grad, P)
            puffer_mlp_summarize(row_stats, n, n, cfg.clip_coef, &s)
        result = {name: float(value) for name, value in zip(_STAT_NAMES, (
            s.policy_loss, s.value_loss, s.entropy, s.approx_kl, s.old_approx_kl, s.clipfrac))}
        result["grad_norm"] = float(norm)
        return result


cdef void _encode_rows(const PufferMLP* net, const float* obs, const int64_t* indices, long n, float* out,
                       float* ws, long per_thread, int threads) noexcept nogil:
    """puffer_mlp_encode_chunk over n rows in chunks (indices NULL: obs rows in order)."""
    cdef long chunks = (n + PUFFER_MLP_CHUNK - 1) // PUFFER_MLP_CHUNK, c, first
    cdef long W = 2 * net.hidden, D = net.obs_dim
    cdef int rows
    if threads > chunks:
        threads = <int> chunks
    if threads <= 1:
        for c in range(chunks):
            first = c * PUFFER_MLP_CHUNK
            rows = <int> min(PUFFER_MLP_CHUNK, n - first)
            puffer_mlp_encode_chunk(net, obs if indices else obs + first * D,
                                    indices + first if indices else NULL, rows, out + first * W, ws)
    else:
        for c in prange(chunks, schedule='static', num_threads=threads):
            first = c * PUFFER_MLP_CHUNK
            rows = <int> min(PUFFER_MLP_CHUNK, n - first)
            puffer_mlp_encode_chunk(net, obs if indices else obs + first * D,
                                    indices + first if indices else NULL, rows, out + first * W,
                                    ws + threadid() * per_thread)


cdef void _heads_rows(const PufferMLP* net, const float* hidden, long n, float* logits, float* values, float* ws,
                      long per_thread, int threads) noexcept nogil:
    """puffer_mlp_heads_chunk over n rows in chunks."""
    cdef long chunks = (n + PUFFER_MLP_CHUNK - 1) // PUFFER_MLP_CHUNK, c, first
    cdef long W = 2 * net.hidden, A = net.num_actions
    cdef int rows
    if threads > chunks:
        threads = <int> chunks
    if threads <= 1:
        for c in range(chunks):
            first = c * PUFFER_MLP_CHUNK
            rows = <int> min(PUFFER_MLP_CHUNK, n - first)
            puffer_mlp_heads_chunk(net, hidden + first * W, rows, logits + first * A, values + first, ws)
    else:
        for c in prange(chunks, schedule='static', num_threads=threads):
            first = c * PUFFER_MLP_CHUNK
            rows = <int> min(PUFFER_MLP_CHUNK, n - first)
            puffer_mlp_heads_chunk(net, hidden + first * W, rows, logits + first * A, values + first,
                                   ws + threadid() * per_thread)


cdef void _lstm_forward(const PufferLSTM* net, const PufferLSTMData* d, float* shared, float* ws,
                        int threads) noexcept nogil:
    cdef long c, per_thread = net.workspace_floats
    if threads > net.num_chunks:
        threads = <int> net.num_chunks
    puffer_lstm_prepare(net, shared)
    if threads <= 1:
        for c in range(net.num_chunks):
            puffer_lstm_forward_chunk(net, d, shared, c, ws)
    else:
        for c in prange(net.num_chunks, schedule='static', num_threads=threads):
            puffer_lstm_forward_chunk(net, d, shared, c, ws + threadid() * per_thread)


_LSTM_NAMES = ("lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0")


cdef class RecurrentKernel:
    """A recurrent actor-critic in C: the towers' hidden layers, an LSTM, then the heads.

    It is pufferlib.train.policies.LSTMPolicy wrapping the default Policy: every observation row goes
    through the actor's and the critic's hidden layers (of an `ActorCriticKernel`), the two outputs side
    by side (width W = 2H) feed an LSTM (W -> W, torch's nn.LSTM layout, the state zeroed where an
    episode starts), and the actor head reads the first H of its output, the value head the last H.
    Rollouts step it one observation per row (`step`); training runs whole minibatches of [B, T]
    sequences (`update`): the towers, the LSTM over the sequences, the heads and the PPO loss, then
    backward in reverse, one global grad-norm clip and one Adam step over every weight. The layers are
    puffer_mlp.h's encode/heads chunk functions and puffer_lstm.h's sequence functions; the weights are
    read and written in place, as ActorCriticKernel does.

    Args:
        mlp: the `ActorCriticKernel` of the towers, heads and log_std (its threads, Adam settings and
            Adam state are shared: its `step` counts this kernel's steps).
        weight_ih, weight_hh: float32 (4W, W) LSTM weights, W = 2 * the towers' hidden size.
        bias_ih, bias_hh: float32 (4W,) LSTM biases.

    Raises:
        TypeError, ValueError: a malformed argument (wrong type, dtype, shape, layout, read-only).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> def linear(i, o):
        ...     return (rng.normal(size=(o, i)).astype(np.float32), np.zeros(o, np.float32))
        >>> mlp = ActorCriticKernel([linear(3, 4)], linear(4, 2), [linear(3, 4)], linear(4, 1), [2])
        >>> f = lambda *shape: np.zeros(shape, np.float32)
        >>> kernel = RecurrentKernel(mlp, f(32, 8), f(32, 8), f(32), f(32))
        >>> logits, values, h, c = f(5, 2), f(5), f(5, 8), f(5, 8)
        >>> kernel.step(f(5, 3), f(5, 8), f(5, 8), f(5), logits, values, h, c)
        >>> float(abs(h).max())
        0.0
    """

    cdef ActorCriticKernel mlp
    cdef PufferLSTM lstm
    cdef tuple _lstm_arrays
    cdef float* _weights[4]
    cdef float[::1] _lgrad, _lm, _lv
    cdef dict _scratch
    cdef readonly int width

    def __init__(self, mlp, weight_ih, weight_hh, bias_ih, bias_hh):
        if not isinstance(mlp, ActorCriticKernel):
            raise TypeError(f"mlp must be an ActorCriticKernel (the towers and heads), got {describe(mlp)}")
        self.mlp = <ActorCriticKernel> mlp
        cdef int W = 2 * self.mlp.net.hidden
        cdef float[:, ::1] w
        cdef float[::1] b
        shapes = ((4 * W, W), (4 * W, W), (4 * W,), (4 * W,))
        for i, (name, array, shape) in enumerate(zip(_LSTM_NAMES, (weight_ih, weight_hh, bias_ih, bias_hh),
                                                     shapes)):
            name = name.split(".")[1].replace("_l0", "")
            if isinstance(array, np.ndarray) and array.shape != shape:
                kind = "(4W, W)" if len(shape) == 2 else "(4W,)"
                raise ValueError(f"{name} must have shape {shape} {kind} for towers of hidden size "
                                 f"{W // 2} (W = {W}), got {array.shape}; build the LSTM as nn.LSTM({W}, {W})")
            check_array(name, array, np.float32, shape, writeable=True)
            self._weights[i] = <float*> cnp.PyArray_DATA(array)
        self._lstm_arrays = (weight_ih, weight_hh, bias_ih, bias_hh)
        self.width = W
        self.lstm.input = W
        self.lstm.hidden = W
        self.lstm.batch = 1
        self.lstm.horizon = 1
        self.lstm.weight_ih = self._weights[0]
        self.lstm.weight_hh = self._weights[1]
        self.lstm.bias_ih = self._weights[2]
        self.lstm.bias_hh = self._weights[3]
        puffer_lstm_layout(&self.lstm)
        cdef long P = puffer_lstm_grad_floats(&self.lstm)
        self._lgrad = np.zeros(P, np.float32)
        self._lm = np.zeros(P, np.float32)
        self._lv = np.zeros(P, np.float32)
        self._scratch = {}

    @property
    def parameter_names(self):
        """Names of the weights in order: the ActorCriticKernel's, then the LSTM's (torch's names)."""
        return self.mlp.parameter_names + _LSTM_NAMES

    @property
    def step_count(self):
        """Adam steps taken so far."""
        return self.mlp._step

    @property
    def num_actions(self):
        """Action parameters per row (the actor head's outputs)."""
        return self.mlp.net.num_actions

    cdef float* _buffer(self, name, shape):
        """A float32 scratch array (one per name, kept while its shape stays)."""
        array = self._scratch.get(name)
        if array is None or array.shape != shape:
            array = self._scratch[name] = np.empty(shape, np.float32)
        return <float*> cnp.PyArray_DATA(array)

    cdef void _shape(self, long batch, long horizon, float** shared, float** ws):
        """Sizes the LSTM for [batch, horizon] sequences; its shared buffer and per-thread workspaces."""
        self.lstm.batch = batch
        self.lstm.horizon = horizon
        puffer_lstm_layout(&self.lstm)
        shared[0] = self._buffer("shared", (self.lstm.shared_floats,))
        ws[0] = self._buffer("lstm_ws", (self.mlp._num_threads * self.lstm.workspace_floats,))

    def step(self, obs, h, c, starts, logits_out, values_out, h_out, c_out):
        """One rollout step for n rows: their state is zeroed where starts is 1, then stepped.

        Args:
            obs: float32 (n, D) observation features.
            h, c: float32 (n, W) the rows' LSTM state.
            starts: float32 (n,): 1 where the row's episode starts at this observation.
            logits_out: float32 (n, A), written: the action parameters.
            values_out: float32 (n,), written: the values.
            h_out, c_out: float32 (n, W), written: the new state (may not be h or c).

        Raises:
            TypeError, ValueError: an array of the wrong type, dtype, shape or layout.
        """
        cdef const PufferMLP* net = &self.mlp.net
        cdef const float* o = <const float*> _data("obs", obs, np.float32, cnp.NPY_FLOAT32, -1, net.obs_dim, 2)
        cdef long n = obs.shape[0], W = self.width
        cdef PufferLSTMData d
        d.h0 = <const float*> _data("h", h, np.float32, cnp.NPY_FLOAT32, n, W, 2)
        d.c0 = <const float*> _data("c", c, np.float32, cnp.NPY_FLOAT32, n, W, 2)
        d.starts = <const float*> _data("starts", starts, np.float32, cnp.NPY_FLOAT32, n, -1, 1)
        cdef float* lg = <float*> _data("logits_out", logits_out, np.float32, cnp.NPY_FLOAT32, n,
                                        net.num_actions, 2, True)
        cdef float* v = <float*> _data("values_out", values_out, np.float32, cnp.NPY_FLOAT32, n, -1, 1, True)
        d.h_n = <float*> _data("h_out", h_out, np.float32, cnp.NPY_FLOAT32, n, W, 2, True)
        d.c_n = <float*> _data("c_out", c_out, np.float32, cnp.NPY_FLOAT32, n, W, 2, True)
        if n == 0:
            return
        cdef float* shared
        cdef float* lws
        self._shape(n, 1, &shared, &lws)
        cdef float* x = self._buffer("step_x", (n, W))
        d.x = x
        d.out = self._buffer("step_out", (n, W))
        d.gates = self._buffer("step_gates", (n, 4 * W))
        d.cells = self._buffer("step_cells", (n, W))
        cdef const PufferLSTM* lstm = &self.lstm
        cdef float* ws = self.mlp._ws_base
        cdef long per_thread = net.workspace_floats
        cdef int threads = self.mlp._num_threads
        with nogil:
            _encode_rows(net, o, NULL, n, x, ws, per_thread, threads)
            _lstm_forward(lstm, &d, shared, lws, threads)
            _heads_rows(net, d.h_n, n, lg, v, ws, per_thread, threads)

    def sequence(self, obs, h0, c0, starts, logits_out, values_out):
        """Inference over [B, T] sequences (the rollout's, to re-evaluate it).

        Args:
            obs: float32 (B * T, D) observation features, sequence by sequence.
            h0, c0: float32 (B, W) the state before each sequence's first step.
            starts: float32 (B, T): 1 where an episode starts.
            logits_out: float32 (B * T, A), written.
            values_out: float32 (B * T,), written.

        Raises:
            TypeError, ValueError: an array of the wrong type, dtype, shape or layout.
        """
        cdef const PufferMLP* net = &self.mlp.net
        if not isinstance(starts, np.ndarray) or starts.ndim != 2:
            check_array("starts", starts, np.float32, (None, None))
        cdef long B = starts.shape[0], T = starts.shape[1], n = B * T, W = self.width
        cdef PufferLSTMData d
        d.starts = <const float*> _data("starts", starts, np.float32, cnp.NPY_FLOAT32, B, T, 2)
        cdef const float* o = <const float*> _data("obs", obs, np.float32, cnp.NPY_FLOAT32, n, net.obs_dim, 2)
        d.h0 = <const float*> _data("h0", h0, np.float32, cnp.NPY_FLOAT32, B, W, 2)
        d.c0 = <const float*> _data("c0", c0, np.float32, cnp.NPY_FLOAT32, B, W, 2)
        cdef float* lg = <float*> _data("logits_out", logits_out, np.float32, cnp.NPY_FLOAT32, n,
                                        net.num_actions, 2, True)
        cdef float* v = <float*> _data("values_out", values_out, np.float32, cnp.NPY_FLOAT32, n, -1, 1, True)
        if n == 0:
            return
        cdef float* shared
        cdef float* lws
        self._shape(B, T, &shared, &lws)
        cdef float* x = self._buffer("x", (n, W))
        d.x = x
        d.out = self._buffer("out", (n, W))
        d.gates = self._buffer("gates", (n, 4 * W))
        d.cells = self._buffer("cells", (n, W))
        d.h_n = self._buffer("h_n", (B, W))
        d.c_n = self._buffer("c_n", (B, W))
        cdef const PufferLSTM* lstm = &self.lstm
        cdef float* ws = self.mlp._ws_base
        cdef long per_thread = net.workspace_floats
        cdef int threads = self.mlp._num_threads
        with nogil:
            _encode_rows(net, o, NULL, n, x, ws, per_thread, threads)
            _lstm_forward(lstm, &d, shared, lws, threads)
            _heads_rows(net, d.out, n, lg, v, ws, per_thread, threads)

    def update(self, obs, actions, old_logprobs, advantages, returns, old_values, masks, indices, starts, h0,
               c0, *, lr, clip_coef, vf_coef, ent_coef, max_grad_norm, norm_adv=True, clip_vloss=False,
               vf_clip_coef=0.2, action_masks=None):
        """One PPO minibatch step on [B, T] sequences: loss, gradient, clip and Adam, in place.

        The loss, clipping and Adam are ActorCriticKernel.update's, over the sequences' steps (without
        those masked out); the gradient flows back through the heads, the LSTM (through time, across
        the resets) and the towers, and the norm is over every weight (LSTM biases counted twice, as
        torch counts b_ih and b_hh). No step is taken when the loss or the gradient is not finite.

        Args:
            obs, actions, old_logprobs, advantages, returns, old_values: the whole batch's rows, as
                ActorCriticKernel.update takes them.
            masks: bool (rows,): False where the agent was absent (left out of the loss), or None.
            indices: int64 (B, T): the batch rows of each sequence's steps.
            starts: float32 (B, T): 1 where an episode starts (the LSTM state is zeroed before it).
            h0, c0: float32 (B, W): the LSTM state before each sequence's first step.
            lr, clip_coef, vf_coef, ent_coef, max_grad_norm, norm_adv, clip_vloss, vf_clip_coef,
                action_masks: as ActorCriticKernel.update.

        Returns:
            A dict of python floats: policy_loss, value_loss, entropy, approx_kl, old_approx_kl,
            clipfrac and grad_norm (before clipping).

        Raises:
            TypeError, ValueError, IndexError: as ActorCriticKernel.update, and for the sequence arrays.
        """
        stats = self._minibatch(obs, actions, old_logprobs, advantages, returns, old_values, masks, indices,
                                starts, h0, c0, clip_coef, vf_coef, ent_coef, norm_adv, clip_vloss, vf_clip_coef,
                                action_masks)
        cdef double norm = stats["grad_norm"]
        cdef float scale = 1.0
        if not (isfinite(norm) and isfinite(stats["policy_loss"]) and isfinite(stats["value_loss"])
                and isfinite(stats["entropy"])):
            return stats  # a NaN or inf would spread to every weight: no step
        if max_grad_norm > 0:
            scale = min(1.0, <float> max_grad_norm / <float> (norm + 1e-6))
        cdef ActorCriticKernel mlp = self.mlp
        mlp._step += 1
        cdef double rate = lr
        with nogil:
            puffer_mlp_adam(&mlp.net, &mlp._grad[0], scale, &mlp._m[0], &mlp._v[0], mlp._step, rate,
                            mlp._beta1, mlp._beta2, mlp._eps)
            puffer_lstm_adam(&self.lstm, self._weights[0], self._weights[1], self._weights[2], self._weights[3],
                             &self._lgrad[0], scale, &self._lm[0], &self._lv[0], mlp._step, rate, mlp._beta1,
                             mlp._beta2, mlp._eps)
        return stats

    def gradients(self, obs, actions, old_logprobs, advantages, returns, old_values, masks, indices, starts, h0,
                  c0, *, clip_coef, vf_coef, ent_coef, norm_adv=True, clip_vloss=False, vf_clip_coef=0.2,
                  action_masks=None):
        """The gradient of update()'s loss, before clipping, without changing weights or Adam's state.

        Returns:
            (grads, stats): float32 arrays by parameter name (see `parameter_names`), and the statistics.
        """
        stats = self._minibatch(obs, actions, old_logprobs, advantages, returns, old_values, masks, indices,
                                starts, h0, c0, clip_coef, vf_coef, ent_coef, norm_adv, clip_vloss, vf_clip_coef,
                                action_masks)
        grads = self.mlp._unflatten(np.asarray(self.mlp._grad).copy())
        grads.update(self._unflatten_lstm(np.asarray(self._lgrad).copy()))
        return grads, stats

    def _unflatten_lstm(self, flat):
        W = self.width
        shapes = ((4 * W, W), (4 * W, W), (4 * W,), (4 * W,))
        out, offset = {}, 0
        for name, shape in zip(_LSTM_NAMES, shapes):
            size = int(np.prod(shape))
            out[name] = flat[offset:offset + size].reshape(shape)
            offset += size
        return out

    def state_dict(self):
        """Adam's state: ActorCriticKernel.state_dict()'s entries plus the LSTM weights' (copies)."""
        state = self.mlp.state_dict()
        for kind, flat in (("exp_avg", self._lm), ("exp_avg_sq", self._lv)):
            for name, value in self._unflatten_lstm(np.asarray(flat).copy()).items():
                state[f"{kind}/{name}"] = value
        return state

    def load_state_dict(self, state):
        """Restores Adam's state from state_dict()'s output.

        Raises:
            TypeError, ValueError: as ActorCriticKernel.load_state_dict.
        """
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict from state_dict(), got {type(state).__name__}")
        lstm_keys = {f"{kind}/{name}" for kind in ("exp_avg", "exp_avg_sq") for name in _LSTM_NAMES}
        missing = sorted(lstm_keys - set(state))
        if missing:
            raise ValueError(f"state must have the keys of state_dict(); missing {missing}, unexpected []")
        W = self.width
        shapes = dict(zip(_LSTM_NAMES, ((4 * W, W), (4 * W, W), (4 * W,), (4 * W,))))
        flats = {"exp_avg": np.empty(self._lm.shape[0], np.float32),
                 "exp_avg_sq": np.empty(self._lv.shape[0], np.float32)}
        for kind, flat in flats.items():
            offset = 0
            for name in _LSTM_NAMES:
                value = np.asarray(state[f"{kind}/{name}"])
                if not np.issubdtype(value.dtype, np.floating):
                    raise TypeError(f"state['{kind}/{name}'] must be a float array, got {value.dtype}")
                if value.shape != shapes[name]:
                    raise ValueError(f"state['{kind}/{name}'] must have shape {shapes[name]}, got {value.shape}")
                flat[offset:offset + value.size] = value.ravel()
                offset += value.size
        self.mlp.load_state_dict({k: v for k, v in state.items() if k not in lstm_keys})
        np.asarray(self._lm)[:] = flats["exp_avg"]
        np.asarray(self._lv)[:] = flats["exp_avg_sq"]

    def _minibatch(self, obs, actions, old_logprobs, advantages, returns, old_values, masks, indices, starts,
                   h0, c0, clip_coef, vf_coef, ent_coef, norm_adv, clip_vloss, vf_clip_coef, action_masks):
        """Checks the minibatch, fills the gradients (mlp._grad, self._lgrad); returns the statistics."""
        cdef ActorCriticKernel mlp = self.mlp
        if not isinstance(indices, np.ndarray) or indices.ndim != 2:
            check_array("indices", indices, np.int64, (None, None))
        cdef long B = indices.shape[0], T = indices.shape[1], W = self.width
        if B < 1 or T < 1:
            raise ValueError(f"indices must be (sequences, steps) with both positive, got shape {indices.shape}")
        check_array("indices", indices, np.int64, (B, T))
        cdef PufferLSTMData d
        d.starts = <const float*> _data("starts", starts, np.float32, cnp.NPY_FLOAT32, B, T, 2)
        d.h0 = <const float*> _data("h0", h0, np.float32, cnp.NPY_FLOAT32, B, W, 2)
        d.c0 = <const float*> _data("c0", c0, np.float32, cnp.NPY_FLOAT32, B, W, 2)
        cdef PufferPPOBatch batch
        cdef PufferPPOConfig cfg
        cdef long n = mlp._prepare_batch(&batch, &cfg, obs, actions, old_logprobs, advantages, returns,
                                         old_values, indices.reshape(-1), masks, clip_coef, vf_coef, ent_coef,
                                         norm_adv, clip_vloss, vf_clip_coef, action_masks)
        cdef float* shared
        cdef float* lws
        self._shape(B, T, &shared, &lws)
        cdef long LP = self.lstm.num_params, lchunks = self.lstm.num_chunks
        cdef float* lpartials = self._buffer("lstm_partials", (max(lchunks, 1) * LP,))
        cdef float* x = self._buffer("x", (n, W))
        cdef float* d_out = self._buffer("d_out", (n, W))
        d.x = x
        d.out = self._buffer("out", (n, W))
        d.gates = self._buffer("gates", (n, 4 * W))
        d.cells = self._buffer("cells", (n, W))
        d.h_n = self._buffer("h_n", (B, W))
        d.c_n = self._buffer("c_n", (B, W))
        d.d_out = d_out
        d.d_h_n = NULL
        d.d_c_n = NULL
        d.d_x = self._buffer("d_x", (n, W))
        d.d_h0 = NULL
        d.d_c0 = NULL

        cdef const PufferMLP* net = &mlp.net
        cdef const PufferLSTM* lstm = &self.lstm
        cdef long chunks = (n + PUFFER_MLP_CHUNK - 1) // PUFFER_MLP_CHUNK, c, first
        cdef long P = net.num_params, G = 4 * W
        cdef int threads = mlp._num_threads, rows
        cdef int mthreads = threads if threads < chunks else <int> chunks
        cdef int lthreads = threads if threads < lchunks else <int> lchunks
        cdef long per_thread = net.workspace_floats, lper_thread = lstm.workspace_floats
        cdef float* ws = mlp._ws_base
        cdef float* partials = &mlp._partials[0]
        cdef float* row_stats = &mlp._row_stats[0]
        cdef float* grad = &mlp._grad[0]
        cdef float* lgrad = &self._lgrad[0]
        cdef const int64_t* idx = batch.indices
        cdef double norm
        cdef PufferPPOStats s
        with nogil:
            # forward: the towers, the LSTM over the sequences; then the heads, the loss and their backward
            _encode_rows(net, batch.obs, idx, n, x, ws, per_thread, mthreads)
            _lstm_forward(lstm, &d, shared, lws, lthreads)
            if mthreads <= 1:
                for c in range(chunks):
                    puffer_mlp_heads_loss_chunk(net, &batch, &cfg, c, d.out, d_out, ws, partials + c * P,
                                                row_stats)
            else:
                for c in prange(chunks, schedule='static', num_threads=mthreads):
                    puffer_mlp_heads_loss_chunk(net, &batch, &cfg, c, d.out, d_out, ws + threadid() * per_thread,
                                                partials + c * P, row_stats)
            # backward through time, then through the towers (into the same chunk partials)
            if lthreads <= 1:
                for c in range(lchunks):
                    puffer_lstm_backward_chunk(lstm, &d, c, lws, lpartials + c * LP)
            else:
                for c in prange(lchunks, schedule='static', num_threads=lthreads):
                    puffer_lstm_backward_chunk(lstm, &d, c, lws + threadid() * lper_thread, lpartials + c * LP)
            if mthreads <= 1:
                for c in range(chunks):
                    first = c * PUFFER_MLP_CHUNK
                    rows = <int> min(PUFFER_MLP_CHUNK, n - first)
                    puffer_mlp_encode_backward_chunk(net, batch.obs, idx + first, rows, d.d_x + first * W, ws,
                                                     partials + c * P)
            else:
                for c in prange(chunks, schedule='static', num_threads=mthreads):
                    first = c * PUFFER_MLP_CHUNK
                    rows = <int> min(PUFFER_MLP_CHUNK, n - first)
                    puffer_mlp_encode_backward_chunk(net, batch.obs, idx + first, rows, d.d_x + first * W,
                                                     ws + threadid() * per_thread, partials + c * P)
            puffer_mlp_sum_partials(partials, chunks, P, 0, P, grad)
            puffer_mlp_sum_partials(lpartials, lchunks, LP, 0, LP, lgrad)
            memcpy(lgrad + LP, lgrad + LP - G, sizeof(float) * G)   # d_bias_hh = d_bias_ih
            norm = sqrt(puffer_mlp_grad_norm(grad, P) ** 2 + puffer_mlp_grad_norm(lgrad, LP + G) ** 2)
            puffer_mlp_summarize(row_stats, n, batch.count, cfg.clip_coef, &s)
        result = {name: float(value) for name, value in zip(_STAT_NAMES, (
            s.policy_loss, s.value_loss, s.entropy, s.approx_kl, s.old_approx_kl, s.clipfrac))}
        result["grad_norm"] = float(norm)
        return result


def _fast_tanh(x):
    """The kernel's tanh over a float32 array (for tests of its accuracy)."""
    cdef const float[::1] src = check_array("x", x, np.float32, (None,))
    out = np.empty(src.shape[0], np.float32)
    cdef float[::1] dst = out
    if src.shape[0]:
        puffer_mlp_tanh_array(&src[0], &dst[0], src.shape[0])
    return out


def _instruction_set(limit=None):
    """The kernel's instruction set (4: AVX-512, 3: AVX2+FMA, 0: portable); `limit` caps it (for tests)."""
    global puffer_mlp_isa_limit
    if limit is not None:
        puffer_mlp_isa_limit = int(limit)
    return puffer_mlp_isa()
