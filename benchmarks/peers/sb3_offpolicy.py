"""Stable-Baselines3 DQN (Gymnasium CartPole-v1) or SAC (Pendulum-v1) at rejax's gymnax settings; prints one JSON line.

Run with the SB3 venv's python:  sb3_offpolicy.py --algo dqn --total-timesteps 25000
DQN: 10 envs, 5 gradient steps of batch 100 per vectorised step, buffer 50k, learning starts 5k,
Adam lr 1e-3, gamma 0.99, Polyak tau 0.02 every vectorised step, epsilon 1 -> 0.05 over 50% of
the run, grad norm 10, 64x64 SiLU net (SB3's DQN: no double Q, no dueling head, Huber loss).
SAC: 1 env, 1 gradient step of batch 256 per step, buffer 10k, learning starts 256, lr 1e-2,
gamma 0.99, tau 0.02, auto temperature (target entropy -1), 64x64 SiLU nets. CPU, torch with one
thread (as sb3_ppo.py). The run is timed after the model is built.
"""

import argparse
import json
import time
from importlib.metadata import version

import torch
from stable_baselines3 import DQN, SAC
from stable_baselines3.common.env_util import make_vec_env


def make(algo):
    if algo == "dqn":
        env = make_vec_env("CartPole-v1", n_envs=10, seed=0)
        return DQN(
            "MlpPolicy", env, learning_rate=1e-3, buffer_size=50_000, learning_starts=5_000, batch_size=100,
            tau=0.02, gamma=0.99, train_freq=1, gradient_steps=5, target_update_interval=10,
            exploration_fraction=0.5, exploration_initial_eps=1.0, exploration_final_eps=0.05, max_grad_norm=10,
            policy_kwargs={"net_arch": [64, 64], "activation_fn": torch.nn.SiLU}, device="cpu", seed=0, verbose=0)
    env = make_vec_env("Pendulum-v1", n_envs=1, seed=0)
    return SAC(
        "MlpPolicy", env, learning_rate=1e-2, buffer_size=10_000, learning_starts=256, batch_size=256, tau=0.02,
        gamma=0.99, train_freq=1, gradient_steps=1, ent_coef="auto", target_entropy="auto",
        policy_kwargs={"net_arch": [64, 64], "activation_fn": torch.nn.SiLU}, device="cpu", seed=0, verbose=0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--algo", choices=("dqn", "sac"), required=True)
    parser.add_argument("--total-timesteps", type=int, required=True)
    parser.add_argument("--torch-threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)

    t0 = time.perf_counter()
    model = make(args.algo)
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
