"""rejax PPO on gymnax CartPole-v1 with PureJaxRL's settings; prints one JSON line.

Run with the rejax venv's python:  rejax_ppo.py --seeds 16 --total-timesteps 500000
Compile (AOT `.lower().compile()`) and run are timed separately, in this fresh process. rejax 0.1.3
expects gymnax's old 5-value `step`; gymnax >= 1.0 returns terminated and truncated separately, so
the env is shimmed here (done = terminated | truncated, exactly gymnax 0.0.x's semantics).
Training evaluates once, at the end (128 episodes, rejax's default), as jaxrl's run does.
"""

import argparse
import json
import time
from importlib.metadata import version

import gymnax
import jax
import jax.numpy as jnp
import rejax


class OldStepAPI:
    """gymnax >= 1.0 env with the pre-1.0 `step` -> (obs, state, reward, done, info)."""

    def __init__(self, env):
        self._env = env

    def __getattr__(self, name):  # delegate everything else (guarded for copy/deepcopy)
        if name.startswith("__") or name == "_env":
            raise AttributeError(name)
        return getattr(self._env, name)

    def step(self, key, state, action, params=None):
        obs, state, reward, terminated, truncated, info = self._env.step(key, state, action, params)
        return obs, state, reward, jnp.logical_or(terminated, truncated), info


def make_ppo(total_timesteps, learning_rate=2.5e-4, ent_coef=0.01, clip_eps=0.2):
    """rejax PPO on CartPole-v1 with PureJaxRL's settings (evaluating once, at the end)."""
    env, env_params = gymnax.make("CartPole-v1")
    if len(env.step(jax.random.key(0), env.reset(jax.random.key(0), env_params)[1], 0, env_params)) == 6:
        env = OldStepAPI(env)
    return rejax.PPO.create(
        env=env, env_params=env_params, total_timesteps=total_timesteps,
        eval_freq=total_timesteps, skip_initial_evaluation=True,
        num_envs=4, num_steps=128, num_epochs=4, num_minibatches=4,
        learning_rate=learning_rate, gamma=0.99, gae_lambda=0.95, clip_eps=clip_eps, ent_coef=ent_coef,
        vf_coef=0.5, max_grad_norm=0.5, agent_kwargs={"activation": "tanh", "hidden_layer_sizes": (64, 64)},
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--total-timesteps", type=int, default=500_000)
    args = parser.parse_args()

    algo = make_ppo(args.total_timesteps)
    keys = jax.random.split(jax.random.key(0), args.seeds)
    train = jax.jit(jax.vmap(algo.train))

    t0 = time.perf_counter()
    compiled = train.lower(keys).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, (lengths, returns) = jax.block_until_ready(compiled(keys))
    run_s = time.perf_counter() - t0
    steps = algo.total_timesteps * args.seeds
    print(json.dumps({
        "compile_s": compile_s, "run_s": run_s, "steps_per_s": steps / run_s,
        "final_eval_return_mean": float(returns[:, -1].mean()), "seeds": args.seeds,
        "versions": {name: version(name) for name in ("rejax", "jax", "flax", "optax", "gymnax")},
    }))


if __name__ == "__main__":
    main()
