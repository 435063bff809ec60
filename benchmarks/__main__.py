"""`python -m benchmarks [--quick] [--only env|ppo|sweep|offpolicy] [--algos A,B] [--reps N] [--peer-python PATH]`: measure
jaxrl against its peers on JAX's default backend.

Writes benchmarks/results.json (all measurements, kept across `--only` runs), RESULTS.md and
results.png. On a GPU the same command measures there and files its results under the "gpu" key
(their own section of RESULTS.md); CPU and GPU figures never share a ratio. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

# On a GPU, every program (this one and each child) takes device memory as it needs it: by default
# JAX's first process would reserve 75% of it and leave the children too little.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax  # noqa: E402

from benchmarks import (  # noqa: E402
    env_throughput, lpo, machine, marl, minatar, offpolicy, ppo, recurrent, report, suites, sweep, venvs,
)

ENVS, NUM_ENVS = env_throughput.ENVS, env_throughput.NUM_ENVS
MODES = {
    # quick: CartPole at every N, the other two envs at N=1024; shorter PPO budgets; one CLI run.
    "quick": dict(
        cells=[("CartPole-v1", n) for n in NUM_ENVS] + [("Pendulum-v1", 1024), ("Acrobot-v1", 1024)],
        env_budget=2**18, env_min_time=0.5, reps=3, ppo_timesteps=131_072, sb3_timesteps=20_480, cli_reps=1,
        sweep_timesteps=65_536, sweep_reps=1, sizes=(1, 4, 16, 64), scaling_timesteps=16_384,
        recurrent_timesteps=131_072, marl_num_envs=(1, 64, 1024, 4096), marl_timesteps=1_000_000,
        offpolicy_timesteps={"dqn": 50_000, "sac": 5_000, "pqn": 262_144},
        offpolicy_sb3_timesteps={"dqn": 50_000, "sac": 5_000}),
    "full": dict(
        cells=[(e, n) for e in ENVS for n in NUM_ENVS],
        env_budget=2**18, env_min_time=1.0, reps=5, ppo_timesteps=500_000, sb3_timesteps=51_200, cli_reps=3,
        sweep_timesteps=500_000, sweep_reps=1, sizes=(1, 4, 16, 64, 256), scaling_timesteps=32_768,
        recurrent_timesteps=500_000, marl_num_envs=(1, 64, 1024, 4096), marl_timesteps=10_000_000,
        # rejax's own budgets (configs/gymnax/cartpole.yaml dqn and pqn, pendulum.yaml sac); SB3 the same (it has
        # no PQN): a shorter budget would make its warm-up (no gradient steps) a larger share of its run
        offpolicy_timesteps=offpolicy.TIMESTEPS, offpolicy_sb3_timesteps={"dqn": 100_000, "sac": 10_000}),
}
for _mode in MODES.values():
    _mode.update(ppo_seeds=(1, 16), peers=("envpool", "rejax", "sb3", "purejaxrl"))
# On an accelerator: more env copies and members (what it is for), no CPU-only peers (EnvPool, SB3),
# no CLI rows (its tuned config is sized for CPU). Everything else as on CPU.
ACCELERATOR = {
    "quick": dict(cells=[("CartPole-v1", n) for n in (1024, 16384, 262144)] + [("Pendulum-v1", 16384),
                                                                             ("Acrobot-v1", 16384)],
                  env_budget=2**22, ppo_seeds=(1, 64), sizes=(1, 64, 1024, 4096), scaling_timesteps=65_536),
    "full": dict(cells=[(e, n) for e in ENVS for n in (1024, 16384, 262144)], env_budget=2**22,
                 ppo_seeds=(1, 64), sweep_timesteps=131_072, sizes=(1, 16, 256, 1024, 4096),
                 scaling_timesteps=131_072),
}
for _mode in ACCELERATOR.values():
    _mode.update(sb3_timesteps=0, cli_reps=0, offpolicy_sb3_timesteps={}, peers=("rejax", "purejaxrl"))

NOTES = [
    "rejax 0.1.3 calls gymnax's pre-1.0 `step` (5 values); its peer script wraps gymnax 1.0.1's env so "
    "`step` returns done = terminated | truncated (gymnax 0.0.x semantics). jax/flax/optax/gymnax are the "
    "same versions as ours, so compile times compare like with like.",
    "rejax's PPO differs in details that cost (almost) nothing: constant learning rate (no annealing), "
    "element-wise gradient clipping, clipped value loss, separate actor and critic optimisers.",
    "SB3 uses torch with 1 thread (on this shared 2-core machine, 2 threads made SB3 ~7x slower).",
    "EnvPool's random actions are pre-drawn and cycled; jaxrl's and gymnax's are drawn inside the program.",
]
ACCELERATOR_NOTES = [
    "Same programs and settings as on CPU. EnvPool and Stable-Baselines3 are CPU tools and are left out; so are "
    "the CLI rows (its tuned defaults are sized for CPU).",
    "rejax runs with the same interpreter and packages as jaxrl (`--peer-python`: the GPU machine has no package "
    "index, so rejax 0.1.3 and its pure-Python dependencies were installed there from wheels, over that "
    "machine's own jax, flax and optax; see Peer versions).",
    "rejax 0.1.3 calls gymnax's pre-1.0 `step`; its peer script wraps gymnax 1.0.1's env (as on CPU).",
    "Every process allocates GPU memory as it needs it (XLA_PYTHON_CLIENT_PREALLOCATE=false), jaxrl's and rejax's "
    "alike.",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few minutes: fewer cells, repetitions and steps")
    parser.add_argument("--only", choices=("env", "ppo", "sweep", "offpolicy", "recurrent", "marl", "lpo", "suites",
                                           "minatar"),
                        help="run one section (others are kept from results.json)")
    parser.add_argument("--reps", type=int, help="repetitions per pair (default: 3 quick, 5 full; at least 3)")
    parser.add_argument("--algos", help="off-policy section: only these (comma-separated, e.g. pqn); the other "
                                        "algorithms' rows are kept from results.json")
    parser.add_argument("--peer-python", type=Path,
                        help="run the peers with this Python instead of their venvs under benchmarks/.peers "
                             "(a machine with no package index; the peers' packages must be installed there)")
    args = parser.parse_args(argv)
    backend = jax.default_backend()
    mode_name = "quick" if args.quick else "full"
    mode = MODES[mode_name] if backend == "cpu" else {**MODES[mode_name], **ACCELERATOR[mode_name]}
    reps = max(3, args.reps or mode["reps"])
    venvs.OVERRIDE = args.peer_python
    path = report.HERE / "results.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    # CPU results at the top level (as always); an accelerator's under its backend's name.
    results = saved if backend == "cpu" else saved.setdefault(backend, {})
    now = datetime.datetime.now().isoformat(timespec="seconds")
    results.update(command="python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:]),
                   date=now, machine=machine.info(), notes=NOTES if backend == "cpu" else ACCELERATOR_NOTES)
    t_start = time.perf_counter()

    section_peers = {"env": ["envpool"], "ppo": ["rejax", "sb3"], "sweep": ["rejax"], "offpolicy": ["rejax", "sb3"],
                     "recurrent": [], "marl": [], "lpo": [], "suites": [],
                     "minatar": ["purejaxrl"]}
    peers = [p for p in section_peers.get(args.only, ["envpool", "rejax", "sb3"]) if p in mode["peers"]]
    print(f"JAX backend {backend}; preparing peer venvs (created once, under benchmarks/.peers/)", flush=True)
    for name in peers:
        venvs.ensure(name)
    results["peer_versions"] = {
        **results.get("peer_versions", {}),
        **({"EnvPool": venvs.installed_versions("envpool", ["envpool", "numpy"])} if "envpool" in peers else {}),
        **({"rejax": venvs.installed_versions("rejax", ["rejax", "jax", "flax", "optax", "gymnax", "distrax"])}
           if "rejax" in peers else {}),
        **({"Stable-Baselines3": venvs.installed_versions("sb3", ["stable-baselines3", "torch", "gymnasium"])}
           if "sb3" in peers else {}),
        **({"PureJaxRL": {"purejaxrl": "146b485 (peers/purejaxrl_ppo.py)",
                          **venvs.installed_versions("purejaxrl", ["jax", "flax", "optax", "gymnax", "distrax"])}}
           if "purejaxrl" in peers else {}),
    }

    if args.only in (None, "env"):
        print(f"env throughput ({mode_name}, {reps} reps)", flush=True)
        rows = env_throughput.run(mode["cells"], reps, mode["env_budget"], mode["env_min_time"],
                                  with_envpool="envpool" in mode["peers"], log=_log)
        results["env"] = {"cpu": results["machine"]["cpu"], "mode": mode_name, "reps": reps, "date": now, "rows": rows}
        _save(saved, results, path)
    if args.only in (None, "ppo"):
        print(f"PPO ({mode_name}, {reps} reps)", flush=True)
        out = ppo.run(mode["ppo_seeds"], mode["ppo_timesteps"], mode["sb3_timesteps"], reps, mode["cli_reps"], log=_log)
        results["ppo"] = {"cpu": results["machine"]["cpu"], "mode": mode_name, "reps": reps, "date": now, **out}
        _save(saved, results, path)
    if args.only in (None, "sweep"):
        sweep_reps = args.reps or mode["sweep_reps"]  # whole sweeps are long: 1 repetition unless asked
        print(f"sweep ({mode_name}, {sweep_reps} reps)", flush=True)
        out = sweep.run(mode["sweep_timesteps"], sweep_reps, mode["sizes"], mode["scaling_timesteps"], log=_log)
        results["sweep"] = {"cpu": results["machine"]["cpu"], "mode": mode_name, "reps": sweep_reps, "date": now, **out}
        _save(saved, results, path)
    if args.only in (None, "offpolicy"):
        algos = tuple(args.algos.split(",")) if args.algos else tuple(offpolicy.JAXRL)
        unknown = set(algos) - set(offpolicy.JAXRL)
        if unknown:
            parser.error(f"--algos: unknown {', '.join(sorted(unknown))}; choose from {', '.join(offpolicy.JAXRL)}")
        print(f"off-policy: {', '.join(a.upper() for a in algos)} ({mode_name}, {reps} reps)", flush=True)
        out = offpolicy.run(algos, mode["offpolicy_timesteps"], mode["offpolicy_sb3_timesteps"], reps, log=_log)
        prev = results.get("offpolicy", {})
        kept = [{"date": prev["date"], "mode": prev["mode"], **r} for r in prev.get("rows", []) if r["algo"] not in algos]
        out["rows"] = sorted(kept + [{**r, "date": now, "mode": mode_name} for r in out["rows"]],
                             key=lambda r: list(offpolicy.JAXRL).index(r["algo"]))
        out["settings"] = {**prev.get("settings", {}), **out["settings"]}
        results["offpolicy"] = {"cpu": results["machine"]["cpu"], "mode": mode_name, "reps": reps, "date": now, **out}
        _save(saved, results, path)
    if args.only in (None, "recurrent"):
        print(f"recurrent PPO ({mode_name}, {reps} reps)", flush=True)
        out = recurrent.run(mode["recurrent_timesteps"], reps, log=_log)
        results["recurrent"] = {"cpu": results["machine"]["cpu"], "mode": mode_name, "reps": reps, "date": now, **out}
        _save(saved, results, path)
    if args.only in (None, "marl"):
        print(f"multi-agent ({mode_name}, {reps} reps)", flush=True)
        out = marl.run(mode["marl_num_envs"], mode["marl_timesteps"], reps, log=_log)
        results["marl"] = {"cpu": results["machine"]["cpu"], "mode": mode_name, "reps": reps, "date": now, **out}
        _save(saved, results, path)
    if args.only == "lpo":  # only on request: a meta-training generation (P x S members) vs one by one
        population = 8 if args.quick else 32
        print(f"lpo meta-training generation ({mode_name}, {reps} reps)", flush=True)
        out = lpo.run(population, 4, 8_192, reps, log=_log)
        results["lpo"] = {"cpu": results["machine"]["cpu"], "mode": mode_name, "date": now, **out}
        _save(saved, results, path)
    if args.only == "suites":  # not part of the default run: each suite is an optional extra
        print(f"env suite adapters ({mode_name}, {reps} reps)", flush=True)
        out = suites.run(reps, quick=args.quick, log=_log)
        results["suites"] = {"cpu": results["machine"]["cpu"], "mode": mode_name, "reps": reps, "date": now, **out}
        _save(saved, results, path)
    if args.only == "minatar":  # not part of the default run: CNN training on CPU is slow
        print(f"PPO on MinAtar Breakout against PureJaxRL ({mode_name}, {reps} reps)", flush=True)
        out = minatar.run(reps, quick=args.quick, log=_log)
        results["minatar"] = {"cpu": results["machine"]["cpu"], "mode": mode_name, "reps": reps, "date": now, **out}
        _save(saved, results, path)
    print(f"done in {time.perf_counter() - t_start:.0f} s; wrote {path.parent / 'RESULTS.md'} and results.png")
    return 0


def _log(message: str) -> None:
    print(message, flush=True)


def _save(saved: dict, results: dict, path) -> None:
    """Write results.json (`saved`: all backends; `results`: this run's part of it) and the reports."""
    results["machine"]["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    results["machine"]["git_commit_end"] = machine.git_commit()  # others may commit while we run
    path.write_text(json.dumps(saved, indent=1, default=float) + "\n")
    report.write(saved)
    report.plot(saved)
    report.update_readme(saved)


if __name__ == "__main__":
    sys.exit(main())
