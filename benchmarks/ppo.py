"""PPO on CartPole-v1 with PureJaxRL's settings: jaxrl vs rejax (compile and run), vs SB3 (steps/s).

Every repetition of every side runs in a fresh process, so each compile is cold: jaxrl's child
(`python -m benchmarks.ppo --seeds N`) runs with JAXRL_COMPILATION_CACHE="" (no persistent XLA
cache), and rejax's child compiles with AOT `.lower().compile()` in its own venv. Both report
compile time and run time separately; "run" includes one final evaluation on both sides.
The CLI rows are the whole `jaxrl train ppo --env CartPole-v1` process (default tuned config),
measured from outside: with no compile cache, and warm (a cache filled by an earlier run).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from benchmarks.timing import COLD, alternate, median, ratio, run_child, run_process, train_timings, vs_rejax
from benchmarks.venvs import run_script

PUREJAXRL = dict(num_envs=4, num_steps=128, update_epochs=4, num_minibatches=4, learning_rate=2.5e-4,
                 anneal_lr=True, num_logs=1, eval_every=0)


def jaxrl_child(seeds: int, total_timesteps: int) -> dict:
    """In this (fresh) process: one jaxrl.train call; returns the timings from its summary."""
    import jaxrl

    result = jaxrl.train("ppo", "CartPole-v1", seeds=seeds, total_timesteps=total_timesteps, config=PUREJAXRL,
                         out=None, progress=False, use_tuned=False)
    return train_timings(result.summary)


def run_jaxrl(seeds: int, total_timesteps: int) -> dict:
    return run_child("benchmarks.ppo", ["--seeds", str(seeds), "--total-timesteps", str(total_timesteps)])


def run_cli(cache_dir: str | None = None) -> dict:
    """Whole-process wall time of `jaxrl train ppo --env CartPole-v1`: with no compile cache (cold), or
    warm with `cache_dir` holding the programs of an earlier run of the same command."""
    env = COLD if cache_dir is None else {**COLD, "JAXRL_COMPILATION_CACHE": cache_dir}
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "jaxrl", "train", "ppo", "--env", "CartPole-v1",
               "--out", tmp, "--name", "run", "--no-progress"]
        _, stats = run_process(cmd, env=env, cwd=tmp)
        s = json.loads((Path(tmp) / "run" / "summary.json").read_text())
    return {"wall_s": stats["process_s"], "peak_rss_mib": stats["peak_rss_mib"], "compile_s": s["compile_s"],
            "train_s": s["train_s"], "total_timesteps": s["total_timesteps"],
            "final_eval_return_mean": s["final_eval_return_mean"]}


def run_rejax(seeds: int, total_timesteps: int) -> dict:
    return run_script("rejax", "rejax_ppo.py", ["--seeds", str(seeds), "--total-timesteps", str(total_timesteps)])


def run_sb3(total_timesteps: int) -> dict:
    return run_script("sb3", "sb3_ppo.py", ["--total-timesteps", str(total_timesteps)])


def run(seeds_list: tuple[int, ...], total_timesteps: int, sb3_timesteps: int, reps: int, cli_reps: int,
        log=print) -> dict:
    """Alternating repetitions; returns {"pairs": rows per seed count, "sb3": row, "cli": row}."""
    out: dict = {"total_timesteps": total_timesteps, "pairs": []}
    for seeds in seeds_list:
        log(f"  PPO CartPole-v1, {seeds} seed(s), {total_timesteps:,} steps each: jaxrl vs rejax"
            + (" vs SB3" if seeds == 1 and sb3_timesteps else ""))
        runners = {"jaxrl": lambda: run_jaxrl(seeds, total_timesteps), "rejax": lambda: run_rejax(seeds, total_timesteps)}
        if seeds == 1 and sb3_timesteps:
            runners["sb3"] = lambda: run_sb3(sb3_timesteps)
        res = alternate(runners, reps, log)
        row = {"seeds": seeds, "reps": reps, "raw": res, **vs_rejax(res)}
        out["pairs"].append(row)
        if "sb3" in res:
            sb3 = {"total_timesteps": sb3_timesteps, "steps_per_s": median(res["sb3"], "steps_per_s"),
                   "peak_rss_mib": median(res["sb3"], "peak_rss_mib"),
                   "jaxrl_steps_per_s": row["jaxrl_steps_per_s"], "jaxrl_peak_rss_mib": row["jaxrl_peak_rss_mib"],
                   "reps": reps, "raw": res["sb3"]}
            sb3["ratio"] = ratio(sb3["jaxrl_steps_per_s"], sb3["steps_per_s"])
            out["sb3"] = sb3
    if cli_reps:
        log("  CLI: jaxrl train ppo --env CartPole-v1, cold vs warm compile cache")
        with tempfile.TemporaryDirectory() as cache:
            run_cli(cache)  # fills the cache for the warm runs
            res = alternate({"cold": run_cli, "warm": lambda: run_cli(cache)}, cli_reps, log)
        for name, key in (("cold", "cli"), ("warm", "cli_warm")):
            out[key] = {"reps": cli_reps, "raw": res[name], "total_timesteps": res[name][0]["total_timesteps"],
                        **{k: median(res[name], k) for k in ("wall_s", "compile_s", "train_s",
                                                             "final_eval_return_mean", "peak_rss_mib")}}
    return out


if __name__ == "__main__":  # the jaxrl child process
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--total-timesteps", type=int, default=500_000)
    args = parser.parse_args()
    print(json.dumps(jaxrl_child(args.seeds, args.total_timesteps)))
