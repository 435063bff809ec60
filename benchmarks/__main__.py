"""`python -m benchmarks [--quick] [--only env|ppo|sweep|offpolicy] [--reps N]`: measure jaxrl against its peers.

Writes benchmarks/results.json (all measurements, kept across `--only` runs), RESULTS.md and
results.png. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time

from benchmarks import env_throughput, machine, offpolicy, ppo, report, sweep, venvs

ENVS, NUM_ENVS = env_throughput.ENVS, env_throughput.NUM_ENVS
MODES = {
    # quick: CartPole at every N, the other two envs at N=1024; shorter PPO budgets; one CLI run.
    "quick": dict(
        cells=[("CartPole-v1", n) for n in NUM_ENVS] + [("Pendulum-v1", 1024), ("Acrobot-v1", 1024)],
        env_budget=2**18, env_min_time=0.5, reps=3, ppo_timesteps=131_072, sb3_timesteps=20_480, cli_reps=1,
        sweep_timesteps=65_536, sweep_reps=1, sizes=(1, 4, 16, 64), scaling_timesteps=16_384,
        offpolicy_timesteps={"dqn": 50_000, "sac": 5_000, "pqn": 262_144},
        offpolicy_sb3_timesteps={"dqn": 15_000, "sac": 2_000}),
    "full": dict(
        cells=[(e, n) for e in ENVS for n in NUM_ENVS],
        env_budget=2**18, env_min_time=1.0, reps=5, ppo_timesteps=500_000, sb3_timesteps=51_200, cli_reps=3,
        sweep_timesteps=500_000, sweep_reps=1, sizes=(1, 4, 16, 64, 256), scaling_timesteps=32_768,
        # rejax's own budgets (configs/gymnax/cartpole.yaml dqn and pqn, pendulum.yaml sac); SB3: shorter (steps/s
        # only), and it has no PQN
        offpolicy_timesteps=offpolicy.TIMESTEPS, offpolicy_sb3_timesteps={"dqn": 25_000, "sac": 3_000}),
}

NOTES = [
    "rejax 0.1.3 calls gymnax's pre-1.0 `step` (5 values); its peer script wraps gymnax 1.0.1's env so "
    "`step` returns done = terminated | truncated (gymnax 0.0.x semantics). jax/flax/optax/gymnax are the "
    "same versions as ours, so compile times compare like with like.",
    "rejax's PPO differs in details that cost (almost) nothing: constant learning rate (no annealing), "
    "element-wise gradient clipping, clipped value loss, separate actor and critic optimisers.",
    "SB3 uses torch with 1 thread (on this shared 2-core machine, 2 threads made SB3 ~7x slower).",
    "EnvPool's random actions are pre-drawn and cycled; jaxrl's and gymnax's are drawn inside the program.",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few minutes: fewer cells, repetitions and steps")
    parser.add_argument("--only", choices=("env", "ppo", "sweep", "offpolicy"),
                        help="run one section (others are kept from results.json)")
    parser.add_argument("--reps", type=int, help="repetitions per pair (default: 3 quick, 5 full; at least 3)")
    args = parser.parse_args(argv)
    mode_name = "quick" if args.quick else "full"
    mode = MODES[mode_name]
    reps = max(3, args.reps or mode["reps"])
    path = report.HERE / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    now = datetime.datetime.now().isoformat(timespec="seconds")
    results.update(command="python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:]),
                   date=now, machine=machine.info(), notes=NOTES)
    t_start = time.perf_counter()

    print("preparing peer venvs (created once, under benchmarks/.peers/)", flush=True)
    peers = {"env": ["envpool"], "ppo": ["rejax", "sb3"], "sweep": ["rejax"], "offpolicy": ["rejax", "sb3"]}.get(args.only, ["envpool", "rejax", "sb3"])
    for name in peers:
        venvs.ensure(name)
    results["peer_versions"] = {
        **results.get("peer_versions", {}),
        **({"EnvPool": venvs.installed_versions("envpool", ["envpool", "numpy"])} if "envpool" in peers else {}),
        **({"rejax": venvs.installed_versions("rejax", ["rejax", "jax", "flax", "optax", "gymnax", "distrax"])}
           if "rejax" in peers else {}),
        **({"Stable-Baselines3": venvs.installed_versions("sb3", ["stable-baselines3", "torch", "gymnasium"])}
           if "sb3" in peers else {}),
    }

    if args.only in (None, "env"):
        print(f"env throughput ({mode_name}, {reps} reps)", flush=True)
        rows = env_throughput.run(mode["cells"], reps, mode["env_budget"], mode["env_min_time"], log=_log)
        results["env"] = {"mode": mode_name, "reps": reps, "date": now, "rows": rows}
        _save(results, path)
    if args.only in (None, "ppo"):
        print(f"PPO ({mode_name}, {reps} reps)", flush=True)
        out = ppo.run((1, 16), mode["ppo_timesteps"], mode["sb3_timesteps"], reps, mode["cli_reps"], log=_log)
        results["ppo"] = {"mode": mode_name, "reps": reps, "date": now, **out}
        _save(results, path)
    if args.only in (None, "sweep"):
        sweep_reps = args.reps or mode["sweep_reps"]  # whole sweeps are long: 1 repetition unless asked
        print(f"sweep ({mode_name}, {sweep_reps} reps)", flush=True)
        out = sweep.run(mode["sweep_timesteps"], sweep_reps, mode["sizes"], mode["scaling_timesteps"], log=_log)
        results["sweep"] = {"mode": mode_name, "reps": sweep_reps, "date": now, **out}
        _save(results, path)
    if args.only in (None, "offpolicy"):
        algos = tuple(offpolicy.JAXRL)
        print(f"off-policy: {', '.join(a.upper() for a in algos)} ({mode_name}, {reps} reps)", flush=True)
        out = offpolicy.run(algos, mode["offpolicy_timesteps"], mode["offpolicy_sb3_timesteps"], reps, log=_log)
        results["offpolicy"] = {"mode": mode_name, "reps": reps, "date": now, **out}
        _save(results, path)
    print(f"done in {time.perf_counter() - t_start:.0f} s; wrote {path.parent / 'RESULTS.md'} and results.png")
    return 0


def _log(message: str) -> None:
    print(message, flush=True)


def _save(results: dict, path) -> None:
    results["machine"]["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    results["machine"]["git_commit_end"] = machine.git_commit()  # others may commit while we run
    path.write_text(json.dumps(results, indent=1, default=float) + "\n")
    report.write(results)
    report.plot(results)
    report.update_readme(results)


if __name__ == "__main__":
    sys.exit(main())
