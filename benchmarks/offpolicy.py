"""Off-policy agents: DQN and PQN on CartPole-v1 and SAC on Pendulum-v1 with rejax's own gymnax
settings (rejax's `configs/gymnax/cartpole.yaml` `dqn:` and `pqn:`, `configs/gymnax/pendulum.yaml`
`sac:`): jaxrl vs rejax (compile and run), vs Stable-Baselines3 (steps/s, same budget; SB3 has no PQN).

As in benchmarks/ppo.py, every repetition of every side is a fresh process with a cold compile
cache: jaxrl's child (`python -m benchmarks.offpolicy --algo dqn`) runs with
JAXRL_COMPILATION_CACHE=""; rejax's child (peers/rejax_offpolicy.py) compiles AOT in its own venv;
SB3's child (peers/sb3_offpolicy.py) uses torch with 1 thread; its steps/s is compared with a jaxrl
run at SB3's settings (`SB3_MATCH`: where SB3's algorithm differs from rejax's settings). "run"
includes one final evaluation (128 episodes) on jaxrl and rejax. Every child's peak resident memory
is measured from outside.
"""

from __future__ import annotations

import argparse
import json

from benchmarks.timing import alternate, median, ratio, run_child, train_timings, vs_rejax
from benchmarks.venvs import run_script

# Ours, set to rejax's settings (see `SETTINGS` for the side-by-side text written to RESULTS.md).
RUN = dict(num_logs=1, eval_every=0, eval_episodes=128)  # one final evaluation, 128 episodes (rejax's)
JAXRL = {
    "dqn": dict(env="CartPole-v1", config=dict(
        num_envs=10, num_steps=1, gradient_steps=5, buffer_size=50_000, batch_size=100, learning_starts=5_000,
        target_update_every=5, tau=0.02, n_step=1, double_q=True, dueling=True, loss="mse", prioritized=False,
        anneal_lr=False, hidden_sizes=(64, 64), activation="silu", layer_norm=False, learning_rate=1e-3,
        gamma=0.99, start_e=1.0, end_e=0.05, exploration_fraction=0.5, max_grad_norm=10.0, **RUN)),
    "sac": dict(env="Pendulum-v1", config=dict(
        num_envs=1, num_steps=1, gradient_steps=1, buffer_size=10_000, batch_size=256, learning_starts=256,
        num_critics=2, autotune=True, hidden_sizes=(64, 64), activation="silu", learning_rate=1e-2, gamma=0.99,
        tau=0.02, target_entropy_scale=1.0, max_grad_norm=1e9, **RUN)),
    "pqn": dict(env="CartPole-v1", config=dict(
        num_envs=16, num_steps=128, update_epochs=5, num_minibatches=16, anneal_lr=False, loss="mse",
        hidden_sizes=(64, 64), activation="relu", layer_norm=True, optimizer="adam", learning_rate=3e-4, gamma=0.99,
        td_lambda=0.9, start_e=1.0, end_e=0.05, exploration_fraction=0.5, max_grad_norm=10.0, **RUN)),
}
# For the Stable-Baselines3 comparison ("same settings"), ours changed where SB3's algorithm differs
# from rejax's settings above: SB3's DQN has no double Q and no dueling head and uses the Huber loss.
# SB3's SAC already matches them.
SB3_MATCH = {"dqn": dict(double_q=False, dueling=False, loss="huber")}
TIMESTEPS = {"dqn": 100_000, "sac": 10_000, "pqn": 524_288}  # rejax's total_timesteps in those configs
SETTINGS = {
    "dqn": "10 envs x 1 step, then 5 gradient steps of batch 100 per iteration; buffer 50k, learning starts after "
           "5k steps; Adam lr 1e-3, gamma 0.99; double Q, dueling 64x64 swish (SiLU) net, 1-step TD, MSE "
           "(0.5 x squared) loss; Polyak target tau 0.02 once per iteration (ours: every 5 gradient steps); "
           "epsilon 1 -> 0.05 over 50% of the run. Gradient clipping 10: rejax clips element-wise (optax.clip), "
           "jaxrl and SB3 by global norm. Evaluation: rejax acts with epsilon 0.005, jaxrl greedily. SB3's DQN has "
           "no double Q / dueling head and uses the Huber loss; against SB3, ours runs the same (`SB3_MATCH`).",
    "sac": "1 env x 1 step, then 1 gradient step of batch 256 per iteration; buffer 10k, learning starts after 256 "
           "steps; Adam lr 1e-2 (actor, critics, temperature), gamma 0.99, Polyak tau 0.02, 2 critics, 64x64 "
           "swish (SiLU) nets, auto temperature with target entropy -1, no gradient clipping. rejax normalises "
           "observations (jaxrl's SAC has no such option; SB3 does not either). Before learning starts rejax "
           "acts with its untrained actor, jaxrl and SB3 uniformly at random. Actor log-std range: rejax [-10, 2], "
           "jaxrl [-5, 2], SB3 [-20, 2].",
    "pqn": "16 envs x 128 steps per iteration, then 5 epochs of 16 minibatches (128 transitions each); no buffer, "
           "no target network; Q(lambda) targets (lambda 0.9, gamma 0.99) from the current network; 64x64 ReLU net "
           "with LayerNorm before each activation; MSE (0.5 x squared) loss; Adam (jaxrl's PQN: `optimizer=adam`; "
           "its default is the paper's RAdam), constant lr 3e-4; gradient clipping 10; epsilon 1 -> 0.05 over 50% "
           "of the run. Differences: rejax clips element-wise (optax.clip), jaxrl by global norm. rejax "
           "treats the 500-step time limit as termination, jaxrl bootstraps from the final observation. rejax's "
           "targets bootstrap from max Q one observation later than Q(lambda)'s (its trajectory stores max Q of "
           "the next observation and its backward scan hands it one more step back); jaxrl's follow the formula. "
           "Initialisation: rejax flax's defaults (LeCun normal), jaxrl orthogonal. Evaluation: rejax acts with "
           "epsilon 0.005, jaxrl greedily. SB3 has no PQN.",
}


def jaxrl_child(algo: str, total_timesteps: int, sb3_settings: bool = False) -> dict:
    """In this (fresh) process: one jaxrl.train call (at SB3's settings: `SB3_MATCH`); returns the
    timings from its summary."""
    import jaxrl

    spec = JAXRL[algo]
    config = {**spec["config"], **(SB3_MATCH.get(algo, {}) if sb3_settings else {})}
    result = jaxrl.train(algo, spec["env"], total_timesteps=total_timesteps, config=config, out=None,
                         progress=False, use_tuned=False)
    return train_timings(result.summary)


def run_jaxrl(algo: str, total_timesteps: int, sb3_settings: bool = False) -> dict:
    return run_child("benchmarks.offpolicy", ["--algo", algo, "--total-timesteps", str(total_timesteps)]
                     + (["--sb3-settings"] if sb3_settings else []))


def run_rejax(algo: str, total_timesteps: int) -> dict:
    return run_script("rejax", "rejax_offpolicy.py", ["--algo", algo, "--total-timesteps", str(total_timesteps)])


def run_sb3(algo: str, total_timesteps: int) -> dict:
    return run_script("sb3", "sb3_offpolicy.py", ["--algo", algo, "--total-timesteps", str(total_timesteps)])


def run(algos: tuple[str, ...], timesteps: dict[str, int], sb3_timesteps: dict[str, int], reps: int,
        log=print) -> dict:
    """Alternating repetitions per algorithm; returns {"rows": [one row per algorithm]}."""
    out: dict = {"rows": [], "settings": {a: SETTINGS[a] for a in algos}}
    for algo in algos:
        env, steps, sb3_steps = JAXRL[algo]["env"], timesteps[algo], sb3_timesteps.get(algo)
        log(f"  {algo.upper()} {env}, {steps:,} steps: jaxrl vs rejax" + (f" vs SB3 ({sb3_steps:,} steps)" if sb3_steps else ""))
        runners = {"jaxrl": lambda: run_jaxrl(algo, steps), "rejax": lambda: run_rejax(algo, steps)}
        if sb3_steps:
            runners["sb3"] = lambda: run_sb3(algo, sb3_steps)
            if algo in SB3_MATCH:
                runners["jaxrl_sb3_settings"] = lambda: run_jaxrl(algo, sb3_steps, sb3_settings=True)
        res = alternate(runners, reps, log)
        row = {"algo": algo, "env": env, "total_timesteps": steps, "reps": reps, "raw": res, **vs_rejax(res)}
        if "sb3" in res:
            row["sb3_total_timesteps"] = sb3_steps
            row["sb3_steps_per_s"] = median(res["sb3"], "steps_per_s")
            row["sb3_peak_rss_mib"] = median(res["sb3"], "peak_rss_mib")
            # jaxrl at SB3's settings where they differ from rejax's, else the run above.
            ours = median(res["jaxrl_sb3_settings"], "steps_per_s") if algo in SB3_MATCH else row["jaxrl_steps_per_s"]
            row["sb3_settings"] = SB3_MATCH.get(algo, {})
            row["jaxrl_sb3_settings_steps_per_s"] = ours
            row["sb3_ratio"] = ratio(ours, row["sb3_steps_per_s"])
        out["rows"].append(row)
    return out


if __name__ == "__main__":  # the jaxrl child process
    parser = argparse.ArgumentParser()
    parser.add_argument("--algo", choices=sorted(JAXRL), required=True)
    parser.add_argument("--total-timesteps", type=int)
    parser.add_argument("--sb3-settings", action="store_true", help="change ours to SB3's settings (SB3_MATCH)")
    args = parser.parse_args()
    print(json.dumps(jaxrl_child(args.algo, args.total_timesteps or TIMESTEPS[args.algo], args.sb3_settings)))
