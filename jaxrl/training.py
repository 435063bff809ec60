"""The host loop: compile once, then run chunks of updates, logging and evaluating between them.

`train("ppo", env="CartPole-v1", seeds=4)` runs 4 independent seeds as ONE vmapped program. The
compiled programs are cached in-process (keyed on everything that changes shapes), so a second call
with other seeds or other traced hyperparameters does not recompile; across processes XLA's
persistent compilation cache does the same (see `jaxrl.compile_cache`).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.agents import EPISODE_METRICS, get_agent
from jaxrl.compile_cache import enable_compilation_cache
from jaxrl.config import ResolvedConfig, resolve
from jaxrl.envs import make
from jaxrl.envs.wrappers import EpisodeStatistics
from jaxrl.program import make_chunk, make_evaluate
from jaxrl import rundir


@dataclasses.dataclass
class TrainResult:
    """What `train` returns: the final (seed-batched) agent state, metrics rows and the summary."""

    config: ResolvedConfig
    summary: dict[str, Any]
    metrics: list[dict[str, Any]]
    state: Any
    run_dir: Path | None

    @property
    def final_eval_return(self) -> list[float]:
        return self.summary["final_eval_return"]

    def plot(self, ax=None, metric: str = "eval_return"):
        """Plot `metric` vs steps per seed (for notebooks); returns the matplotlib axes."""
        import matplotlib.pyplot as plt

        ax = ax or plt.gca()
        for seed in self.config.seeds:
            pts = [(r["step"], r[metric]) for r in self.metrics if r["seed"] == seed and not math.isnan(r[metric])]
            if pts:
                ax.plot(*zip(*pts), lw=1, alpha=0.6, label=f"seed {seed}")
        ax.set_xlabel("environment steps (per seed)")
        ax.set_ylabel(metric.replace("_", " "))
        ax.set_title(f"{self.config.algo} on {self.config.env}")
        ax.legend(fontsize=7)
        return ax

    def __repr__(self) -> str:
        s = self.summary
        return (
            f"TrainResult({s['algo']} on {s['env']}, seeds={s['seeds']}, "
            f"final_eval_return_mean={s['final_eval_return_mean']:.2f}, run_dir={str(self.run_dir)!r})"
        )


@dataclasses.dataclass
class _Program:
    """The compiled functions of one (algo, env, static config, population size)."""

    init: Any
    chunk: Any
    evaluate: Any
    policy: Any
    steps_per_update: int
    compile_s: float


_PROGRAMS: dict[tuple, _Program] = {}


def train(
    algo: str = "ppo",
    env: str = "CartPole-v1",
    *,
    seeds: int | Sequence[int] = 1,
    total_timesteps: int | None = None,
    config: dict[str, Any] | None = None,
    out: str | Path | None = "runs",
    name: str | None = None,
    progress: bool = True,
    use_tuned: bool = True,
) -> TrainResult:
    """Train `algo` on `env` for each seed in one compiled program.

    `config` overrides settings by name (e.g. `{"num_envs": 64, "learning_rate": 1e-3}`); tuned
    defaults for (algo, env) come from `experiments/<algo>.toml`. With `out=None` nothing is
    written to disk. Returns a `TrainResult`.
    """
    wall_start = time.perf_counter()
    resolved = resolve(algo, env, config, seeds=seeds, total_timesteps=total_timesteps, use_tuned=use_tuned)
    env_obj, env_params = make(resolved.env, **resolved.env_kwargs)  # user errors surface before compiling
    run_path = None
    if out is not None:
        run_path = rundir.create_run_dir(out, name or rundir.default_run_name(resolved.algo, resolved.env))
    enable_compilation_cache()

    num_members = len(resolved.seeds)
    keys = jax.vmap(jax.random.key)(jnp.asarray(resolved.seeds, jnp.uint32))
    hparams = _broadcast(resolved.hparams, num_members)
    eval_key = jax.random.key(resolved.run.eval_seed)
    num_updates = resolved.config.num_updates

    program, num_compiles = _get_program(resolved, env_obj, env_params, keys, hparams, eval_key)
    steps_per_update = program.steps_per_update
    schedule = _chunk_schedule(num_updates, resolved.run.num_logs)

    if run_path is not None:
        rundir.write_json(
            run_path / "config.json",
            {**resolved.to_dict(), "versions": rundir.versions(), "git_commit": rundir.git_commit()},
        )
    bar = _progress_bar(progress, num_updates * steps_per_update, f"{resolved.algo} {resolved.env}")

    train_s = eval_s = 0.0
    rows: list[dict[str, Any]] = []
    writer = None
    state = program.init(keys, hparams)
    updates_done = 0
    last_eval = None
    try:
        for index, chunk_updates in enumerate(schedule):
            t0 = time.perf_counter()
            state, sums = program.chunk(state, hparams, np.int32(chunk_updates))
            sums = jax.device_get(sums)
            train_s += time.perf_counter() - t0
            updates_done += chunk_updates
            last_chunk = index == len(schedule) - 1
            evaluate_now = resolved.run.eval_every > 0 and (
                (index + 1) % resolved.run.eval_every == 0 or last_chunk
            )
            if evaluate_now:
                t0 = time.perf_counter()
                last_eval = np.asarray(jax.device_get(program.evaluate(state, eval_key)[0]))
                eval_s += time.perf_counter() - t0
            new_rows = _rows(sums, chunk_updates, updates_done * steps_per_update, resolved.seeds,
                             last_eval.mean(axis=1) if evaluate_now else None)
            rows += new_rows
            if run_path is not None:
                writer = writer or rundir.MetricsWriter(run_path / "metrics.csv", new_rows[0])
                writer.write(new_rows)
            if bar is not None:
                bar.update(chunk_updates * steps_per_update)
                bar.set_postfix(_postfix(new_rows, train_s, updates_done * steps_per_update * num_members))
    finally:
        if writer is not None:
            writer.close()
        if bar is not None:
            bar.close()

    if last_eval is None:  # eval_every == 0: evaluate only the final policy
        t0 = time.perf_counter()
        last_eval = np.asarray(jax.device_get(program.evaluate(state, eval_key)[0]))
        eval_s += time.perf_counter() - t0
    final_returns = [float(r) for r in last_eval.mean(axis=1)]
    total_steps = updates_done * steps_per_update
    summary = {
        "algo": resolved.algo,
        "env": resolved.env,
        "seeds": list(resolved.seeds),
        "total_timesteps": total_steps,
        "num_updates": updates_done,
        "final_eval_return": final_returns,
        "final_eval_return_mean": float(np.mean(final_returns)),
        "final_eval_return_std": float(np.std(final_returns)),
        "eval_episodes": resolved.run.eval_episodes,
        "compile_s": round(program.compile_s if num_compiles else 0.0, 4),
        "train_s": round(train_s, 4),
        "eval_s": round(eval_s, 4),
        "wall_s": round(time.perf_counter() - wall_start, 4),
        "steps_per_s": round(total_steps * num_members / max(train_s, 1e-9), 1),
        "num_compiles": num_compiles,
        "params_sha256": params_sha256(program.policy(state), num_members),
        "run_dir": str(run_path) if run_path is not None else None,
    }
    if run_path is not None:
        rundir.write_json(run_path / "summary.json", summary)
        rundir.plot_curve(rows, run_path / "curve.png", f"{resolved.algo} on {resolved.env}")
    return TrainResult(resolved, summary, rows, state, run_path)


def _get_program(resolved: ResolvedConfig, env, env_params, keys, hparams, eval_key) -> tuple[_Program, int]:
    """The cached program for this static configuration, compiling it (AOT) on first use.

    Returns `(program, num_compiles)`: 1 when the training program was compiled by this call.
    """
    cache_key = (
        resolved.algo, resolved.env, tuple(sorted(resolved.env_kwargs.items())), resolved.config,
        resolved.run.eval_episodes, len(resolved.seeds), jax.default_backend(),
    )
    if cache_key in _PROGRAMS:
        return _PROGRAMS[cache_key], 0

    spec = get_agent(resolved.algo)
    fns = spec.build(EpisodeStatistics(env), env_params, resolved.config)
    evaluate = make_evaluate(env, env_params, fns.act, resolved.run.eval_episodes)

    init = jax.jit(jax.vmap(fns.init))
    chunk = jax.jit(jax.vmap(make_chunk(fns.update), in_axes=(0, 0, None)), donate_argnums=(0,))
    evaluate_all = jax.jit(jax.vmap(lambda s, k: evaluate(fns.policy(s), k), in_axes=(0, None)))

    t0 = time.perf_counter()
    state_shape = jax.eval_shape(init, keys, hparams)
    # XLA compiles in C++ without the GIL: each program starts compiling as soon as it is traced,
    # the long chunk first, so tracing and compiling the others overlap it.
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        chunk_future = pool.submit(chunk.lower(state_shape, hparams, jax.ShapeDtypeStruct((), jnp.int32)).compile)
        eval_future = pool.submit(evaluate_all.lower(state_shape, eval_key).compile)
        # init runs once and is tiny: on CPU, skip LLVM's optimisations (its compile time halves).
        init_options = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None
        init_future = pool.submit(init.lower(keys, hparams).compile, init_options)
        compiled = [f.result() for f in (init_future, chunk_future, eval_future)]
    program = _Program(*compiled, policy=fns.policy, steps_per_update=fns.steps_per_update,
                       compile_s=time.perf_counter() - t0)
    _PROGRAMS[cache_key] = program
    return program, 1


def _broadcast(hparams: Any, num_members: int) -> Any:
    """Hparams dataclass of Python scalars -> the same pytree of `[num_members]` arrays."""

    def column(value):
        value = np.asarray(value)
        dtype = np.float32 if value.dtype.kind == "f" else (np.int32 if value.dtype.kind in "iu" else value.dtype)
        return jnp.broadcast_to(jnp.asarray(value, dtype), (num_members, *value.shape))

    return jax.tree.map(column, hparams)


def _chunk_schedule(num_updates: int, num_logs: int) -> list[int]:
    """Split `num_updates` into at most `num_logs` nearly equal chunks (sizes differ by at most 1)."""
    chunks = max(1, min(num_updates, num_logs))
    base, extra = divmod(num_updates, chunks)
    return [base + (1 if i < extra else 0) for i in range(chunks)]


def _rows(sums: dict[str, np.ndarray], num_updates: int, step: int, seeds, eval_returns) -> list[dict]:
    """One metrics row per seed from the summed chunk metrics."""
    rows = []
    for i, seed in enumerate(seeds):
        count = float(sums["episode_count"][i])
        row = {
            "step": step,
            "seed": seed,
            "episode_return": float(sums["episode_return_sum"][i]) / count if count else math.nan,
            "episode_length": float(sums["episode_length_sum"][i]) / count if count else math.nan,
            "eval_return": float(eval_returns[i]) if eval_returns is not None else math.nan,
        }
        for name, value in sums.items():
            if name not in EPISODE_METRICS:
                row[name] = float(value[i]) / num_updates
        rows.append(row)
    return rows


def _progress_bar(enabled: bool, total: int, description: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="step", unit_scale=True, dynamic_ncols=True)


def _postfix(rows: list[dict], train_s: float, steps_all_seeds: int) -> dict[str, str]:
    def mean_of(key):
        values = [r[key] for r in rows if not math.isnan(r[key])]
        return f"{np.mean(values):.1f}" if values else "-"

    return {"return": mean_of("episode_return"), "eval": mean_of("eval_return"),
            "sps": f"{steps_all_seeds / max(train_s, 1e-9):.3g}"}


def params_sha256(policy: Any, num_members: int) -> list[str]:
    """SHA-256 of each member's policy parameters: the bytes of every leaf, in tree order."""
    leaves = [np.asarray(leaf) for leaf in jax.tree.leaves(jax.device_get(policy))]
    digests = []
    for i in range(num_members):
        h = hashlib.sha256()
        for leaf in leaves:
            h.update(np.ascontiguousarray(leaf[i]).tobytes())
        digests.append(h.hexdigest())
    return digests
