"""Recurrent PPO (GRU) against feed-forward PPO on the same env and settings: compile and run time.

Rows: CartPole-v1 with PureJaxRL's PPO-RNN settings (4 envs x 128 steps, 4 minibatches of whole
rollouts, GRU of 128 units; its `ppo_rnn.py` defaults), and a memory task with the tuned
recurrent settings. Each repetition of each side is a fresh process with a cold compile cache
(`python -m benchmarks.recurrent --env E --network N`); the sides alternate.
"""

from __future__ import annotations

import argparse
import json

from benchmarks.ppo import PUREJAXRL
from benchmarks.timing import alternate, median, ratio, run_child, train_timings

ROWS = {
    # PureJaxRL's ppo_rnn.py: PPO's CartPole settings with a 128-unit GRU, minibatches of whole rollouts.
    "CartPole-v1": {**PUREJAXRL, "rnn_size": 128},
    "RepeatPrevious-easy": {"num_logs": 1, "eval_every": 0},  # the tuned defaults (experiments/ppo.toml)
}


def child(env: str, network: str, total_timesteps: int) -> dict:
    """In this (fresh) process: one jaxrl.train call; returns the timings from its summary."""
    import jaxrl

    settings = {**ROWS[env], "network": network}
    result = jaxrl.train("ppo", env, total_timesteps=total_timesteps, config=settings, out=None, progress=False,
                         use_tuned=env != "CartPole-v1")
    return train_timings(result.summary)


def run(total_timesteps: int, reps: int, log=print) -> dict:
    """Alternating repetitions per env; returns {"rows": [...]} with medians and the gru / mlp ratios."""
    rows = []
    for env in ROWS:
        log(f"  PPO on {env}, {total_timesteps:,} steps: GRU vs MLP")
        runners = {net: (lambda net=net: run_child("benchmarks.recurrent", [
            "--env", env, "--network", net, "--total-timesteps", str(total_timesteps)])) for net in ("gru", "mlp")}
        res = alternate(runners, reps, log)
        row = {"env": env, "reps": reps, "total_timesteps": total_timesteps, "raw": res}
        for net in res:
            for key in ("compile_s", "steps_per_s", "final_eval_return_mean", "peak_rss_mib"):
                row[f"{net}_{key}"] = median(res[net], key)
        row["speed_ratio"] = ratio(row["gru_steps_per_s"], row["mlp_steps_per_s"])
        row["compile_ratio"] = ratio(row["gru_compile_s"], row["mlp_compile_s"])
        rows.append(row)
    return {"rows": rows, "settings": {env: {k: v for k, v in s.items() if k not in ("num_logs", "eval_every")}
                                       for env, s in ROWS.items()}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", choices=tuple(ROWS), required=True)
    parser.add_argument("--network", choices=("gru", "lstm", "mlp"), required=True)
    parser.add_argument("--total-timesteps", type=int, default=131_072)
    args = parser.parse_args()
    print(json.dumps(child(args.env, args.network, args.total_timesteps)))
