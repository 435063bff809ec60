"""Stable-Baselines3 PPO on Gymnasium CartPole-v1 with PureJaxRL's settings; prints one JSON line.

Run with the SB3 venv's python:  sb3_ppo.py --total-timesteps 50000
4 envs x 128 steps, 4 epochs, 4 minibatches (batch 128), lr 2.5e-4 linearly annealed, gamma 0.99,
GAE lambda 0.95, clip 0.2, ent 0.01, vf 0.5, max grad norm 0.5, separate 64x64 tanh actor and
critic, CPU. The run is timed after the model is built (SB3 has no compile step). torch uses one
thread by default (`--torch-threads`): for these tiny networks more threads only add
synchronisation (on a shared 2-core machine 2 threads ran ~7x slower than 1).
"""

import argparse
import json
import time
from importlib.metadata import version

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--total-timesteps", type=int, default=50_000)
    parser.add_argument("--torch-threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)

    t0 = time.perf_counter()
    env = make_vec_env("CartPole-v1", n_envs=4, seed=0)
    model = PPO(
        "MlpPolicy", env, n_steps=128, batch_size=128, n_epochs=4,
        learning_rate=lambda progress_remaining: 2.5e-4 * progress_remaining,
        gamma=0.99, gae_lambda=0.95, clip_range=0.2, ent_coef=0.01, vf_coef=0.5, max_grad_norm=0.5,
        policy_kwargs={"net_arch": {"pi": [64, 64], "vf": [64, 64]}, "activation_fn": torch.nn.Tanh},
        device="cpu", seed=0, verbose=0,
    )
    setup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.learn(total_timesteps=args.total_timesteps)
    run_s = time.perf_counter() - t0
    steps = model.num_timesteps
    print(json.dumps({
        "setup_s": setup_s, "run_s": run_s, "steps": steps, "steps_per_s": steps / run_s,
        "torch_threads": torch.get_num_threads(),
        "versions": {name: version(name) for name in ("stable-baselines3", "torch", "gymnasium")},
    }))


if __name__ == "__main__":
    main()
