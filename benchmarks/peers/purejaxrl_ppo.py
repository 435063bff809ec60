# PPO as PureJaxRL writes it, for a peer benchmark of jaxrl (benchmarks/suites.py).
#
# After purejaxrl/ppo.py of https://github.com/luchris429/purejaxrl at commit
# 146b4856d593bcb4114b9c9fdb45798034696551 (Copyright Chris Lu, Apache License 2.0), with the MinAtar
# settings of that commit's examples/brax_minatar.ipynb ("PPO Gymnax MinAtar"). This file is a
# re-implementation of that one program, not a verbatim copy: the same network (separate 64x64 actor and
# critic MLPs, orthogonal initialisation, distrax Categorical), the same environment wrappers (flattened
# observations, episode statistics), the same scans (env steps, GAE in reverse with unroll=16, epochs of
# shuffled minibatches), losses (clipped value loss, clipped surrogate with per-minibatch advantage
# normalisation, entropy bonus) and optimiser (global-norm clipping, Adam eps=1e-5, the learning rate
# annealed per update). What differs from the original, and why:
#   * the settings are a function argument (`make_train(settings)`), not a dict edited in place;
#   * compile (AOT `.lower().compile()`) is timed apart from the run, several seeds are vmapped (as
#     PureJaxRL's README does) and the script prints one JSON line;
#   * gymnax >= 1.0 returns `terminated` and `truncated` from `step`; PureJaxRL was written for the
#     5-value `step` (done = terminated | truncated), so the env is seen through that (`OldStepAPI`);
#   * `--network cnn` is OURS, not PureJaxRL's (its PPO has no CNN): jaxrl's MinAtar torso (conv
#     16x3x3 valid + ReLU, dense 128 + ReLU, shared by actor and critic, `jaxrl.blocks.encoders`) in
#     front of the same MLPs, on the unflattened [10, 10, C] image, so that jaxrl's PPO-CNN has a
#     same-work program outside jaxrl to be compared with.
#
# Run with the purejaxrl peer venv's python (benchmarks/venvs.py); it never imports jaxrl:
#   purejaxrl_ppo.py --env Breakout-MinAtar --network mlp --seeds 1 --total-timesteps 131072

import argparse
import json
import time
from importlib.metadata import version
from typing import Any, NamedTuple

import distrax
import flax.linen as nn
import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from flax.linen.initializers import constant, orthogonal
from flax.training.train_state import TrainState

# examples/brax_minatar.ipynb at the commit above (its env is SpaceInvaders-MinAtar; 1e7 steps)
MINATAR = {"LR": 5e-3, "NUM_ENVS": 64, "NUM_STEPS": 128, "UPDATE_EPOCHS": 4, "NUM_MINIBATCHES": 8,
           "GAMMA": 0.99, "GAE_LAMBDA": 0.95, "CLIP_EPS": 0.2, "ENT_COEF": 0.01, "VF_COEF": 0.5,
           "MAX_GRAD_NORM": 0.5, "ACTIVATION": "relu", "ANNEAL_LR": True}


class Wrapper:
    """PureJaxRL's GymnaxWrapper: every attribute but the overridden ones is the wrapped env's."""

    def __init__(self, env):
        self._env = env

    def __getattr__(self, name):
        if name.startswith("__") or name == "_env":
            raise AttributeError(name)
        return getattr(self._env, name)


class OldStepAPI(Wrapper):
    """A gymnax >= 1.0 env with the pre-1.0 `step` -> (obs, state, reward, done, info)."""

    def step(self, key, state, action, params=None):
        obs, state, reward, terminated, truncated, info = self._env.step(key, state, action, params)
        return obs, state, reward, jnp.logical_or(terminated, truncated), info


class FlattenObservation(Wrapper):
    """PureJaxRL's FlattenObservationWrapper: observations reshaped to one vector."""

    def observation_space(self, params):
        space = self._env.observation_space(params)
        return gymnax.environments.spaces.Box(space.low, space.high, (int(np.prod(space.shape)),), space.dtype)

    def reset(self, key, params=None):
        obs, state = self._env.reset(key, params)
        return jnp.reshape(obs, (-1,)), state

    def step(self, key, state, action, params=None):
        obs, state, reward, done, info = self._env.step(key, state, action, params)
        return jnp.reshape(obs, (-1,)), state, reward, done, info


@struct.dataclass
class LogEnvState:
    env_state: Any
    episode_returns: float
    episode_lengths: int
    returned_episode_returns: float
    returned_episode_lengths: int
    timestep: int


class LogEpisodes(Wrapper):
    """PureJaxRL's LogWrapper: running and last-finished episode return and length in `info`."""

    def reset(self, key, params=None):
        obs, env_state = self._env.reset(key, params)
        return obs, LogEnvState(env_state, 0, 0, 0, 0, 0)

    def step(self, key, state, action, params=None):
        obs, env_state, reward, done, info = self._env.step(key, state.env_state, action, params)
        ret, length = state.episode_returns + reward, state.episode_lengths + 1
        state = LogEnvState(
            env_state=env_state,
            episode_returns=ret * (1 - done),
            episode_lengths=length * (1 - done),
            returned_episode_returns=state.returned_episode_returns * (1 - done) + ret * done,
            returned_episode_lengths=state.returned_episode_lengths * (1 - done) + length * done,
            timestep=state.timestep + 1,
        )
        info = {**info, "returned_episode_returns": state.returned_episode_returns,
                "returned_episode_lengths": state.returned_episode_lengths,
                "timestep": state.timestep, "returned_episode": done}
        return obs, state, reward, done, info


def _dense(features, scale):
    return nn.Dense(features, kernel_init=orthogonal(scale), bias_init=constant(0.0))


class ActorCritic(nn.Module):
    """PureJaxRL's ActorCritic; `cnn=True` puts our MinAtar torso (not PureJaxRL's) in front."""

    action_dim: int
    activation: str = "tanh"
    cnn: bool = False

    @nn.compact
    def __call__(self, x):
        act = nn.relu if self.activation == "relu" else nn.tanh
        if self.cnn:  # jaxrl.blocks.encoders.CNN("minatar"): [..., H, W, C] -> [..., 128]
            lead = x.shape[:-3]
            x = x.reshape(-1, *x.shape[-3:]).astype(jnp.float32)
            x = nn.relu(nn.Conv(16, (3, 3), padding="VALID", kernel_init=orthogonal(np.sqrt(2)),
                                bias_init=constant(0.0))(x))
            x = nn.relu(_dense(128, np.sqrt(2))(x.reshape(x.shape[0], -1))).reshape(*lead, 128)
        actor = act(_dense(64, np.sqrt(2))(x))
        actor = act(_dense(64, np.sqrt(2))(actor))
        pi = distrax.Categorical(logits=_dense(self.action_dim, 0.01)(actor))
        critic = act(_dense(64, np.sqrt(2))(x))
        critic = act(_dense(64, np.sqrt(2))(critic))
        return pi, jnp.squeeze(_dense(1, 1.0)(critic), axis=-1)


class Transition(NamedTuple):
    done: jnp.ndarray
    action: jnp.ndarray
    value: jnp.ndarray
    reward: jnp.ndarray
    log_prob: jnp.ndarray
    obs: jnp.ndarray
    info: Any


def make_env(env_name: str, network: str):
    env, env_params = gymnax.make(env_name)
    env = OldStepAPI(env)
    if network == "mlp":
        env = FlattenObservation(env)
    return LogEpisodes(env), env_params


def make_train(settings: dict, env_name: str = "Breakout-MinAtar", network: str = "mlp"):
    """`train(key) -> {"runner_state", "metrics"}`, PureJaxRL's program for `settings` (the keys of
    MINATAR plus TOTAL_TIMESTEPS)."""
    c = dict(settings)
    num_updates = int(c["TOTAL_TIMESTEPS"]) // c["NUM_STEPS"] // c["NUM_ENVS"]
    batch_size = c["NUM_ENVS"] * c["NUM_STEPS"]
    env, env_params = make_env(env_name, network)

    def schedule(count):
        return c["LR"] * (1.0 - (count // (c["NUM_MINIBATCHES"] * c["UPDATE_EPOCHS"])) / num_updates)

    def train(rng):
        net = ActorCritic(env.action_space(env_params).n, activation=c["ACTIVATION"], cnn=network == "cnn")
        rng, key_init = jax.random.split(rng)
        params = net.init(key_init, jnp.zeros(env.observation_space(env_params).shape))
        tx = optax.chain(optax.clip_by_global_norm(c["MAX_GRAD_NORM"]),
                         optax.adam(learning_rate=schedule if c["ANNEAL_LR"] else c["LR"], eps=1e-5))
        train_state = TrainState.create(apply_fn=net.apply, params=params, tx=tx)
        rng, key_reset = jax.random.split(rng)
        obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key_reset, c["NUM_ENVS"]), env_params)

        def env_step(runner, _):
            train_state, env_state, last_obs, rng = runner
            rng, key_act = jax.random.split(rng)
            pi, value = net.apply(train_state.params, last_obs)
            action = pi.sample(seed=key_act)
            log_prob = pi.log_prob(action)
            rng, key_step = jax.random.split(rng)
            obs, env_state, reward, done, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(key_step, c["NUM_ENVS"]), env_state, action, env_params)
            return (train_state, env_state, obs, rng), Transition(done, action, value, reward, log_prob, last_obs, info)

        def gae(traj, last_val):
            def step(carry, t):
                gae_, next_value = carry
                delta = t.reward + c["GAMMA"] * next_value * (1 - t.done) - t.value
                gae_ = delta + c["GAMMA"] * c["GAE_LAMBDA"] * (1 - t.done) * gae_
                return (gae_, t.value), gae_

            _, advantages = jax.lax.scan(step, (jnp.zeros_like(last_val), last_val), traj, reverse=True, unroll=16)
            return advantages, advantages + traj.value

        def loss_fn(params, traj, adv, targets):
            pi, value = net.apply(params, traj.obs)
            log_prob = pi.log_prob(traj.action)
            value_clipped = traj.value + (value - traj.value).clip(-c["CLIP_EPS"], c["CLIP_EPS"])
            value_loss = 0.5 * jnp.maximum(jnp.square(value - targets), jnp.square(value_clipped - targets)).mean()
            ratio = jnp.exp(log_prob - traj.log_prob)
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
            actor_loss = -jnp.minimum(ratio * adv, jnp.clip(ratio, 1.0 - c["CLIP_EPS"], 1.0 + c["CLIP_EPS"]) * adv).mean()
            entropy = pi.entropy().mean()
            return actor_loss + c["VF_COEF"] * value_loss - c["ENT_COEF"] * entropy, (value_loss, actor_loss, entropy)

        def minibatch_step(train_state, batch):
            loss, grads = jax.value_and_grad(loss_fn, has_aux=True)(train_state.params, *batch)
            return train_state.apply_gradients(grads=grads), loss

        def epoch(state, _):
            train_state, traj, adv, targets, rng = state
            rng, key_perm = jax.random.split(rng)
            permutation = jax.random.permutation(key_perm, batch_size)
            batch = jax.tree.map(lambda x: x.reshape((batch_size,) + x.shape[2:]), (traj, adv, targets))
            batch = jax.tree.map(lambda x: jnp.take(x, permutation, axis=0), batch)
            minibatches = jax.tree.map(lambda x: x.reshape([c["NUM_MINIBATCHES"], -1] + list(x.shape[1:])), batch)
            train_state, loss = jax.lax.scan(minibatch_step, train_state, minibatches)
            return (train_state, traj, adv, targets, rng), loss

        def update(runner, _):
            runner, traj = jax.lax.scan(env_step, runner, None, c["NUM_STEPS"])
            train_state, env_state, last_obs, rng = runner
            _, last_val = net.apply(train_state.params, last_obs)
            adv, targets = gae(traj, last_val)
            state, _ = jax.lax.scan(epoch, (train_state, traj, adv, targets, rng), None, c["UPDATE_EPOCHS"])
            return (state[0], env_state, last_obs, state[-1]), traj.info

        rng, key_run = jax.random.split(rng)
        runner, metrics = jax.lax.scan(update, (train_state, env_state, obs, key_run), None, num_updates)
        return {"runner_state": runner, "metrics": metrics}

    return train


def final_return(metrics: dict, fraction: float = 0.1) -> np.ndarray:
    """Per seed: the mean return of the episodes that ended in the last `fraction` of the updates
    (metrics leaves are [seeds, updates, steps, envs])."""
    done = np.asarray(metrics["returned_episode"])
    returns = np.asarray(metrics["returned_episode_returns"])
    last = max(1, int(round(done.shape[1] * fraction)))
    done, returns = done[:, -last:], returns[:, -last:]
    return np.array([returns[s][done[s]].mean() if done[s].any() else np.nan for s in range(done.shape[0])])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", default="Breakout-MinAtar")
    parser.add_argument("--network", choices=("mlp", "cnn"), default="mlp")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="the first seed (keys seed .. seed+seeds-1)")
    parser.add_argument("--total-timesteps", type=int, default=131_072)
    parser.add_argument("--settings", default="{}", help="JSON overrides of the MINATAR settings")
    args = parser.parse_args()

    settings = {**MINATAR, **json.loads(args.settings), "TOTAL_TIMESTEPS": args.total_timesteps}
    train = jax.jit(jax.vmap(make_train(settings, args.env, args.network)))
    keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(args.seed, args.seed + args.seeds))
    t0 = time.perf_counter()
    compiled = train.lower(keys).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = jax.block_until_ready(compiled(keys))
    run_s = time.perf_counter() - t0
    num_updates = args.total_timesteps // settings["NUM_STEPS"] // settings["NUM_ENVS"]
    steps = num_updates * settings["NUM_STEPS"] * settings["NUM_ENVS"] * args.seeds
    final = final_return(out["metrics"])
    print(json.dumps({
        "compile_s": compile_s, "run_s": run_s, "steps_per_s": steps / run_s, "total_timesteps": steps // args.seeds,
        "seeds": args.seeds, "network": args.network, "final_train_return": final.tolist(),
        "final_train_return_mean": float(np.nanmean(final)), "settings": settings,
        "versions": {name: version(name) for name in ("jax", "flax", "optax", "gymnax", "distrax")},
    }))


if __name__ == "__main__":
    main()
