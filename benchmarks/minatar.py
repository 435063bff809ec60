"""PPO on MinAtar Breakout against PureJaxRL, at PureJaxRL's MinAtar settings: training steps/s and returns.

`python -m benchmarks --only minatar` (not in the default run). PureJaxRL's MinAtar settings are those of
its examples/brax_minatar.ipynb ("PPO Gymnax MinAtar", commit 146b485): 64 envs x 128 steps, 4 epochs, 8
minibatches, lr 5e-3 annealed, gamma 0.99, GAE lambda 0.95, clip 0.2 (policy and value), entropy 0.01,
value 0.5, max grad norm 0.5, separate 64x64 ReLU actor and critic MLPs on the flattened [10, 10, 4]
image. Rows, alternating, fresh processes, compile excluded (steps / run seconds):

* `purejaxrl_mlp`: PureJaxRL's PPO (`peers/purejaxrl_ppo.py`, its own venv `.peers/purejaxrl`);
* `jaxrl_mlp`: `jaxrl.train("ppo", "gymnax:Breakout-MinAtar")` with the same settings
  (`encoder="flatten"`, `clip_vloss=True`, no tuned table);
* `jaxrl_cnn`: the same with the MinAtar CNN (`cnn="minatar"`) in front of the MLPs;
* `purejaxrl_cnn`: PureJaxRL's program with that CNN torso added by us (PureJaxRL's PPO has none), so
  the CNN row has a same-work program outside jaxrl too.

jaxrl's children run with a persistent compile cache filled by one untimed run of the same config, so
no compile (jaxrl compiles its evaluation beside the first chunk) overlaps the timed training; its
final evaluation is outside `train_s`. The learning check trains 3 seeds of each MLP side in one
program at the same budget and compares the mean return of the training episodes that ended in the
last 10% of updates (PureJaxRL's own metric; jaxrl: the episode_return of the last of 10 logs).
Last, the MLP rows again with jaxrl's backend tunings off (`JAXRL_TUNING=none`), to show what part of
the difference they make.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile

import numpy as np

from benchmarks.timing import COLD, alternate, median, ratio, run_child, train_timings
from benchmarks.venvs import run_script

ENV = "gymnax:Breakout-MinAtar"
# PureJaxRL's MinAtar settings (examples/brax_minatar.ipynb) in jaxrl's names; PUREJAXRL_MINATAR is what
# the peer script uses, under its own names (peers/purejaxrl_ppo.py MINATAR).
PUREJAXRL_MINATAR = {
    "num_envs": 64, "num_steps": 128, "update_epochs": 4, "num_minibatches": 8, "learning_rate": 5e-3,
    "anneal_lr": True, "gamma": 0.99, "gae_lambda": 0.95, "clip_eps": 0.2, "clip_vloss": True,
    "ent_coef": 0.01, "vf_coef": 0.5, "max_grad_norm": 0.5, "hidden_sizes": [64, 64], "activation": "relu",
    "normalize_advantages": True,
}
NETWORKS = {"mlp": {"encoder": "flatten"}, "cnn": {"cnn": "minatar"}}


def child(network: str, total_timesteps: int, seeds: int, num_logs: int) -> dict:
    """In this (fresh) process: one jaxrl.train call; its timings and returns."""
    import jaxrl

    result = jaxrl.train("ppo", ENV, seeds=seeds, total_timesteps=total_timesteps, out=None, progress=False,
                         use_tuned=False, config={**PUREJAXRL_MINATAR, **NETWORKS[network], "num_logs": num_logs,
                                                  "eval_every": 0})
    s = result.summary
    final = _last_per_seed(result.metrics, "episode_return")
    return {**train_timings(s), "total_timesteps": s["total_timesteps"], "seeds": seeds, "final_train_return": final,
            "final_train_return_mean": sum(final) / len(final),
            "final_eval_return": [float(r) for r in s["final_eval_return"]]}


def _last_per_seed(rows: list[dict], key: str) -> list[float]:
    """Each seed's last logged `key` (the episodes that ended in the last 1/num_logs of training)."""
    last = {row["seed"]: float(row[key]) for row in rows if row.get(key) is not None}
    return [last[seed] for seed in sorted(last)]


def run_jaxrl(network: str, total_timesteps: int, seeds: int = 1, num_logs: int = 1, cache: str = "",
              tuning: str = "") -> dict:
    """A fresh jaxrl process; `tuning="none"` switches jaxrl's backend tunings off (JAXRL_TUNING)."""
    return run_child("benchmarks.minatar", ["--network", network, "--total-timesteps", str(total_timesteps),
                                            "--seeds", str(seeds), "--num-logs", str(num_logs)],
                     env={**COLD, "JAXRL_COMPILATION_CACHE": cache, "JAXRL_TUNING": tuning})


def run_purejaxrl(network: str, total_timesteps: int, seeds: int = 1) -> dict:
    return run_script("purejaxrl", "purejaxrl_ppo.py", ["--env", "Breakout-MinAtar", "--network", network,
                                                        "--total-timesteps", str(total_timesteps),
                                                        "--seeds", str(seeds)])


def run_speed(mlp_timesteps: int, cnn_timesteps: int, reps: int, log=print) -> dict:
    """Training steps/s of the four rows (1 seed), alternating; medians and ratios."""
    budget = {"mlp": mlp_timesteps, "cnn": cnn_timesteps}
    with tempfile.TemporaryDirectory() as cache:
        for net in NETWORKS:  # fill the compile cache (untimed)
            run_jaxrl(net, budget[net], cache=cache)
        runners = {f"{side}_{net}": (lambda side=side, net=net: run_jaxrl(net, budget[net], cache=cache)
                                     if side == "jaxrl" else run_purejaxrl(net, budget[net]))
                   for net in NETWORKS for side in ("purejaxrl", "jaxrl")}
        res = alternate(runners, reps, log=lambda m: log("  " + m))
    out = {name: {"total_timesteps": budget[name.split("_")[1]],
                  **{k: median(rows, k) for k in ("steps_per_s", "compile_s", "peak_rss_mib")}}
           for name, rows in res.items()}
    for net in NETWORKS:
        out[f"{net}_jaxrl_over_purejaxrl"] = ratio(out[f"jaxrl_{net}"]["steps_per_s"], out[f"purejaxrl_{net}"]["steps_per_s"])
    out["jaxrl_cnn_over_mlp"] = ratio(out["jaxrl_cnn"]["steps_per_s"], out["jaxrl_mlp"]["steps_per_s"])
    return {"rows": {**out, **paired_ratios(res)}, "raw": res}


def paired(res: dict[str, list[dict]], a: str, b: str) -> tuple[list[float], float]:
    """Row `a` / row `b` steps/s within each repetition (they ran back to back, so they saw about the
    same load; on this shared machine the load swings 2-3x between repetitions): the list, its median."""
    per_rep = [ratio(x["steps_per_s"], y["steps_per_s"]) for x, y in zip(res[a], res[b])]
    return per_rep, statistics.median(per_rep)


def paired_ratios(res: dict[str, list[dict]]) -> dict:
    """jaxrl / PureJaxRL per repetition, per network (`paired`)."""
    out = {}
    for net in NETWORKS:
        out[f"{net}_paired_ratios"], out[f"{net}_paired_ratio_median"] = paired(res, f"jaxrl_{net}", f"purejaxrl_{net}")
    return out


def learning_stats(learning: dict) -> dict:
    """Each side's mean final training return with a 95% stratified-bootstrap interval over seeds, and
    P(jaxrl > PureJaxRL) with its interval (`jaxrl.stats`; with 3 seeds the intervals are wide)."""
    from jaxrl.stats import bootstrap_interval, improvement_interval, mean

    scores = {side: np.asarray(learning[side]["final_train_return"], float)[:, None]
              for side in ("purejaxrl_mlp", "jaxrl_mlp")}
    out = {side: [float(v) for v in bootstrap_interval(s, mean)] for side, s in scores.items()}
    out["p_jaxrl_better"] = [float(v) for v in improvement_interval(scores["jaxrl_mlp"], scores["purejaxrl_mlp"])]
    return out


def run_tuning(total_timesteps: int, reps: int, log=print) -> dict:
    """Where the MLP rows' difference comes from: PureJaxRL against jaxrl with its backend tunings
    (`jaxrl.backend`: dense dot, flat optimiser, RNG lowering, ...) on and off, alternating."""
    with tempfile.TemporaryDirectory() as cache:
        for tuning in ("", "none"):  # fill the compile cache (untimed)
            run_jaxrl("mlp", total_timesteps, cache=cache, tuning=tuning)
        res = alternate({"purejaxrl_mlp": lambda: run_purejaxrl("mlp", total_timesteps),
                         "jaxrl_mlp": lambda: run_jaxrl("mlp", total_timesteps, cache=cache),
                         "jaxrl_mlp_untuned": lambda: run_jaxrl("mlp", total_timesteps, cache=cache, tuning="none")},
                        reps, log=lambda m: log("  " + m))
    return {"total_timesteps": total_timesteps, "reps": reps, "raw": res, **tuning_ratios(res)}


def tuning_ratios(res: dict[str, list[dict]]) -> dict:
    """Median steps/s per row and the medians of the per-repetition ratios (`paired`)."""
    return {"steps_per_s": {name: median(rows, "steps_per_s") for name, rows in res.items()},
            "tuned_over_purejaxrl": paired(res, "jaxrl_mlp", "purejaxrl_mlp")[1],
            "untuned_over_purejaxrl": paired(res, "jaxrl_mlp_untuned", "purejaxrl_mlp")[1],
            "tuned_over_untuned": paired(res, "jaxrl_mlp", "jaxrl_mlp_untuned")[1]}


def run_learning(total_timesteps: int, seeds: int, log=print) -> dict:
    """Both MLP sides, `seeds` seeds in one program each: the final training-episode returns."""
    peer = run_purejaxrl("mlp", total_timesteps, seeds)
    log(f"    purejaxrl_mlp: {peer['final_train_return']}")
    ours = run_jaxrl("mlp", total_timesteps, seeds, num_logs=10)
    log(f"    jaxrl_mlp: {ours['final_train_return']} (deterministic eval {ours['final_eval_return']})")
    out = {"total_timesteps": total_timesteps, "seeds": seeds, "purejaxrl_mlp": peer, "jaxrl_mlp": ours}
    return {**out, "stats": learning_stats(out)}


def run(reps: int = 3, quick: bool = True, log=print) -> dict:
    log(f"  steps/s, {reps} alternating repetitions")
    speed = run_speed(131_072 if quick else 262_144, 32_768 if quick else 65_536, reps, log)
    log("  learning check: MLP, 3 seeds")
    learning = run_learning(499_712 if quick else 1_015_808, 3, log)
    log("  MLP steps/s with jaxrl's backend tunings off")
    tuning = run_tuning(131_072 if quick else 262_144, reps, log)
    return {**speed, "learning": learning, "tuning": tuning, "settings": PUREJAXRL_MINATAR}


if __name__ == "__main__":  # the jaxrl child process
    parser = argparse.ArgumentParser()
    parser.add_argument("--network", choices=tuple(NETWORKS), required=True)
    parser.add_argument("--total-timesteps", type=int, default=131_072)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--num-logs", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(child(args.network, args.total_timesteps, args.seeds, args.num_logs)))
