"""Learned drift functions for mirror-learning policy objectives (LPO, Lu et al. 2022; temporally
aware LPO, Jackson et al. 2024), and the objective file that holds one.

A mirror-learning policy objective is `E[r * A - drift(r, A)]` for the probability ratio
`r = pi(a|s) / pi_old(a|s)` and the advantage `A`. Here

    drift(r, A) = relu(ppo_drift(r, A) + f(x(r, A, t)) - f(x(1, A, t)) - DRIFT_MARGIN)
    ppo_drift(r, A) = relu((r - clip(r, 1 - eps, 1 + eps)) * A)

where `f` is a small bias-free tanh network given by a flat parameter vector and `x` its features:
`[r - 1, (r - 1)^2, log r, (log r)^2]` and the same four times `A` (LPO's eight inputs), plus, for
the temporally aware variant, `t = [n / N, log(1 + N - n)]` (the fraction of the run's updates done
and the remaining budget of updates on a log scale). With zero parameters the objective is PPO's
clipped one (`r A - ppo_drift = min(r A, clip(r) A)`), which is where evolution starts.

The mirror-learning conditions hold by construction: the drift is non-negative (relu), and in a
neighbourhood of `r = 1` both `ppo_drift` and `f(x(r)) - f(x(1))` are below `DRIFT_MARGIN`, so the
drift is exactly zero there, with zero gradient. (LPO's reference code gets `f(x(1)) = 0` from a
bias-free network over features that vanish at `r = 1`; subtracting `f(x(1))` extends that to the
temporal features, which do not vanish.)
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np

DRIFT_MARGIN = 1e-6
RATIO_FEATURES = 8
TIME_FEATURES = 2
OBJECTIVE_FORMAT = "jaxrl-lpo-objective"
OBJECTIVE_VERSION = 1


def num_features(temporal: bool) -> int:
    """Inputs of the drift network: 8 (LPO), 10 (temporally aware LPO)."""
    return RATIO_FEATURES + (TIME_FEATURES if temporal else 0)


def num_params(temporal: bool, hidden: int) -> int:
    """Length of the flat parameter vector: a `[features, hidden]` and a `[hidden]` weight matrix."""
    return num_features(temporal) * hidden + hidden


def initial_params(key: jax.Array, temporal: bool, hidden: int) -> jax.Array:
    """Where evolution starts: input weights ~ N(0, 1 / features) (LeCun), output weights zero, so the
    objective is exactly PPO's while every output weight moves the drift. (All-zero parameters are a
    saddle of the bias-free network: `f(-theta) = f(theta)`, which antithetic noise cannot leave.)"""
    features = num_features(temporal)
    w_in = jax.random.normal(key, (features * hidden,)) / jnp.sqrt(features)
    return jnp.concatenate([w_in, jnp.zeros(hidden)])


def time_features(update_step: jax.Array, num_updates: int) -> jax.Array:
    """`[2]`: the fraction of the run done `n / N` and the remaining budget `log(1 + N - n)`."""
    n = jnp.asarray(update_step, jnp.float32)
    return jnp.stack([n / num_updates, jnp.log1p(jnp.maximum(num_updates - n, 0.0))])


def drift_features(ratio: jax.Array, advantage: jax.Array, time: jax.Array | None = None) -> jax.Array:
    """`[N, 8]` (or `[N, 10]` with `time [2]`) features of ratios and advantages `[N]`."""
    chex.assert_equal_shape([ratio, advantage])
    chex.assert_rank(ratio, 1)
    log_ratio = jnp.log(ratio)
    base = jnp.stack([ratio - 1.0, (ratio - 1.0) ** 2, log_ratio, log_ratio**2], axis=-1)
    x = jnp.concatenate([base, base * advantage[:, None]], axis=-1)
    if time is None:
        return x
    chex.assert_shape(time, (TIME_FEATURES,))
    return jnp.concatenate([x, jnp.broadcast_to(time, (x.shape[0], TIME_FEATURES))], axis=-1)


def drift_network(params: jax.Array, x: jax.Array, hidden: int) -> jax.Array:
    """The bias-free tanh network `f`: flat `params [F * hidden + hidden]`, `x [N, F]` -> `[N]`."""
    features = x.shape[-1]
    chex.assert_shape(params, (features * hidden + hidden,))
    w_in = params[: features * hidden].reshape(features, hidden)
    w_out = params[features * hidden:]
    return jnp.tanh(x @ w_in) @ w_out


def learned_drift(params: jax.Array, ratio: jax.Array, advantage: jax.Array, clip_eps: Any, hidden: int,
                  time: jax.Array | None = None) -> jax.Array:
    """`[N]` drift of ratios and advantages `[N]` (see the module docstring); >= 0, zero near r = 1."""
    f = drift_network(params, drift_features(ratio, advantage, time), hidden)
    f_at_one = drift_network(params, drift_features(jnp.ones_like(ratio), advantage, time), hidden)
    ppo_drift = jax.nn.relu((ratio - jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)) * advantage)
    return jax.nn.relu(ppo_drift + f - f_at_one - DRIFT_MARGIN)


def drift_surrogate_loss(log_prob: jax.Array, old_log_prob: jax.Array, advantage: jax.Array, params: jax.Array,
                         clip_eps: Any, hidden: int, time: jax.Array | None = None):
    """The mirror-learning objective `-mean(r A - drift(r, A))` of `[N]` inputs: `(loss, ratio [N])`."""
    ratio = jnp.exp(log_prob - old_log_prob)
    drift = learned_drift(params, ratio, advantage, clip_eps, hidden, time)
    return -jnp.mean(ratio * advantage - drift), ratio


# --- The objective file --------------------------------------------------------------------------

def save_objective(path: str | Path, params: Any, temporal: bool, hidden: int, info: dict | None = None) -> Path:
    """Write a drift function to `path` (.npz) atomically: a crash leaves the previous file whole."""
    params = np.asarray(params, np.float32)
    if params.shape != (num_params(temporal, hidden),):
        raise ValueError(f"params of shape {params.shape} do not fit temporal={temporal}, hidden={hidden}.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez(tmp, format=OBJECTIVE_FORMAT, version=OBJECTIVE_VERSION, params=params, temporal=temporal,
                 hidden=hidden, info=json.dumps(info or {}))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_objective(path: str | Path) -> dict[str, Any]:
    """`{"params" [D] float32, "temporal", "hidden", "info"}` of an objective file; ValueError (one
    paragraph naming the file and the problem) for a missing, foreign or other-version file."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            fields = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise ValueError(f"Objective file {str(path)!r} does not exist.") from None
    except (OSError, ValueError, EOFError):
        raise ValueError(f"{str(path)!r} is not a jaxrl objective file (an .npz written by `jaxrl meta-train "
                         "lpo`, e.g. its objective.npz); numpy cannot read it as one.") from None
    if str(fields.get("format", "")) != OBJECTIVE_FORMAT:
        raise ValueError(f"{str(path)!r} is not a jaxrl objective file (no format={OBJECTIVE_FORMAT!r} field); "
                         "objective files are written by `jaxrl meta-train lpo`.")
    version = int(fields.get("version", -1))
    if version != OBJECTIVE_VERSION:
        raise ValueError(f"Objective file {str(path)!r} has format version {version}; this jaxrl reads version "
                         f"{OBJECTIVE_VERSION}. Re-run `jaxrl meta-train lpo` with this jaxrl to make one.")
    temporal, hidden, params = bool(fields["temporal"]), int(fields["hidden"]), np.asarray(fields["params"])
    if params.shape != (num_params(temporal, hidden),) or not np.all(np.isfinite(params)):
        raise ValueError(f"Objective file {str(path)!r} is damaged: {params.shape} parameters for a drift network "
                         f"of {num_features(temporal)} inputs and {hidden} hidden units (want "
                         f"{num_params(temporal, hidden)}, all finite).")
    return {"params": params.astype(np.float32), "temporal": temporal, "hidden": hidden,
            "info": json.loads(str(fields.get("info", "{}")))}
