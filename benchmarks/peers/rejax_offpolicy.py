"""rejax DQN or PQN (gymnax CartPole-v1) or SAC (gymnax Pendulum-v1) with rejax's own gymnax configs; prints one JSON line.

Run with the rejax venv's python:  rejax_offpolicy.py --algo dqn --total-timesteps 100000
Settings: rejax's `configs/gymnax/cartpole.yaml` (`dqn:`, `pqn:`) and `configs/gymnax/pendulum.yaml` (`sac:`),
except that training evaluates once, at the end (128 episodes, rejax's default), as jaxrl's run does.
Compile (AOT `.lower().compile()`) and run are timed separately, in this fresh process. The env gets
rejax_ppo.py's OldStepAPI shim (rejax 0.1.3 expects gymnax's pre-1.0 5-value `step`).
"""

import argparse
import json
import time
from importlib.metadata import version

import gymnax
import jax
import rejax

from rejax_ppo import OldStepAPI

CONFIGS = {
    # configs/gymnax/cartpole.yaml, dqn:
    "dqn": dict(env="CartPole-v1", algo="DQN", config=dict(
        agent="DuelingQNetwork", agent_kwargs={"activation": "swish"}, num_envs=10, buffer_size=50_000,
        fill_buffer=5_000, batch_size=100, max_grad_norm=10, learning_rate=0.001, num_epochs=5, polyak=0.98,
        eps_start=1, eps_end=0.05, exploration_fraction=0.5, gamma=0.99, ddqn=True, normalize_observations=False)),
    # configs/gymnax/pendulum.yaml, sac:
    "sac": dict(env="Pendulum-v1", algo="SAC", config=dict(
        agent_kwargs={"activation": "swish"}, num_envs=1, buffer_size=10_000, fill_buffer=256, batch_size=256,
        learning_rate=0.01, num_epochs=1, gamma=0.99, polyak=0.98, normalize_observations=True)),
    # configs/gymnax/cartpole.yaml, pqn: (rejax's PQN fixes its net: 64x64, Dense -> LayerNorm -> ReLU)
    "pqn": dict(env="CartPole-v1", algo="PQN", config=dict(
        num_envs=16, num_steps=128, num_minibatches=16, max_grad_norm=10, learning_rate=0.0003, num_epochs=5,
        eps_start=1, eps_end=0.05, exploration_fraction=0.5, gamma=0.99, td_lambda=0.9,
        normalize_observations=False)),
}


def make(algo, total_timesteps):
    spec = CONFIGS[algo]
    env, env_params = gymnax.make(spec["env"])
    if len(env.step(jax.random.key(0), env.reset(jax.random.key(0), env_params)[1],
                    env.action_space(env_params).sample(jax.random.key(0)), env_params)) == 6:
        env = OldStepAPI(env)
    return getattr(rejax, spec["algo"]).create(
        env=env, env_params=env_params, total_timesteps=total_timesteps, eval_freq=total_timesteps,
        skip_initial_evaluation=True, **spec["config"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--algo", choices=sorted(CONFIGS), required=True)
    parser.add_argument("--total-timesteps", type=int, required=True)
    args = parser.parse_args()

    algo = make(args.algo, args.total_timesteps)
    key = jax.random.key(0)
    train = jax.jit(algo.train)

    t0 = time.perf_counter()
    compiled = train.lower(key).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, (lengths, returns) = jax.block_until_ready(compiled(key))
    run_s = time.perf_counter() - t0
    print(json.dumps({
        "compile_s": compile_s, "run_s": run_s, "steps_per_s": algo.total_timesteps / run_s,
        "final_eval_return_mean": float(returns[-1].mean()),
        "versions": {name: version(name) for name in ("rejax", "jax", "flax", "optax", "gymnax")},
    }))


if __name__ == "__main__":
    main()
