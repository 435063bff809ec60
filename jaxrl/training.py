"""The host loop: compile once, then run chunks of updates, logging and evaluating between them.

`train("ppo", env="CartPole-v1", seeds=4)` runs 4 independent seeds as ONE vmapped program. The
compiled programs are cached in-process (keyed on everything that changes shapes), so a second call
with other seeds or other traced hyperparameters does not recompile; across processes XLA's
persistent compilation cache does the same (see `jaxrl.compile_cache`).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import hashlib
import json
import math
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import backend, checkpoint, rundir
from jaxrl.agents import EPISODE_METRICS, AgentFns, get_agent
from jaxrl.compile_cache import enable_compilation_cache
from jaxrl.config import ConfigError, ResolvedConfig, hparams_dict, resolve
from jaxrl.config import from_dict as config_from_dict
from jaxrl.envs import make
from jaxrl.envs.wrappers import EpisodeStatistics
from jaxrl.interrupt import TrainingInterrupted, catch_stop_signals
from jaxrl.loggers import check_backends, make_loggers
from jaxrl.population import sharding
from jaxrl.population.program import make_chunk, make_evaluate


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
    evaluate_future: concurrent.futures.Future  # the eval program, compiled beside the chunk (not waited for)
    policy: Any
    steps_per_update: int
    compile_s: float  # time spent waiting for compiles: init and chunk, then any wait for evaluate
    state_shape: Any  # the member-batched state as ShapeDtypeStructs (padded to the population size)
    float_leaves: list[str]  # tree paths of the state's float leaves, in the order of the finite flags
    bytes_per_device: int | None  # the chunk program's memory need per device (XLA's analysis)
    state_sharding: Any  # where the state lives on several devices (None on one)

    def evaluate(self) -> Any:
        """The compiled evaluation program. The first call waits for its background compile if it
        has not finished (training's first chunks usually cover it); the wait counts as compile time."""
        if not self.evaluate_future.done():
            t0 = time.perf_counter()
            self.evaluate_future.result()
            self.compile_s += time.perf_counter() - t0
        return self.evaluate_future.result()


# Compiles beside the chunk's (the longest): init, then the eval program, one after the other, so
# the second core is busy while the chunk compiles and free once training runs. (Compiled while the
# first chunks ran, the eval program took a core from training: PQN's run 3.9 -> 3.3 s without it.)
_BACKGROUND = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="jaxrl-compile")
_PROGRAMS: dict[tuple, _Program] = {}


class NonFiniteError(FloatingPointError):
    """Training stopped because a loss or the state became NaN/inf (the bad state is not saved)."""


@dataclasses.dataclass
class _Progress:
    """Where the host loop stands; saved in every checkpoint (steps are Python ints: 64-bit safe)."""

    chunks_done: int = 0
    updates_done: int = 0
    metrics_rows: int = 0  # rows of metrics.csv written up to this point
    last_eval: np.ndarray | None = None  # [seeds, eval_episodes] returns of the latest evaluation
    train_s: float = 0.0
    eval_s: float = 0.0
    hparams: list[dict[str, Any]] | None = None  # each member's traced settings now (PBT changes them)

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["last_eval"] = None if self.last_eval is None else self.last_eval.tolist()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _Progress:
        fields = {f.name for f in dataclasses.fields(cls)}
        progress = cls(**{k: v for k, v in data.items() if k in fields})
        if progress.last_eval is not None:
            progress.last_eval = np.asarray(progress.last_eval, np.float32)
        return progress


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
    loggers: Sequence[Any] = (),
    resume: str | Path | None = None,
) -> TrainResult:
    """Train `algo` on `env` for each seed in one compiled program.

    `config` overrides settings by name (e.g. `{"num_envs": 64, "learning_rate": 1e-3}`); tuned
    defaults for (algo, env) come from `experiments/<algo>.toml`. With `out=None` nothing is
    written to disk. `loggers` adds backends to metrics.csv: "tensorboard", "wandb" or objects with
    `log(rows)` and `close()`. `resume=RUN_DIR` continues that run instead (see `resume`).

    SIGINT/SIGTERM stop the run after the current chunk with a checkpoint saved and raise
    `TrainingInterrupted` (a KeyboardInterrupt); a NaN/inf loss or state raises `NonFiniteError`.
    Returns a `TrainResult`.
    """
    if resume is not None:
        given = [n for n, v in (("config", config), ("total_timesteps", total_timesteps), ("name", name)) if v]
        if given:
            raise ConfigError(
                f"resume= continues {str(resume)!r} with the settings in its config.json; "
                f"drop {', '.join(given)}."
            )
        return _resume(resume, progress=progress, loggers=loggers)
    wall_start = time.perf_counter()
    resolved = resolve(algo, env, config, seeds=seeds, total_timesteps=total_timesteps, use_tuned=use_tuned)
    env_obj, env_params = make(resolved.env, **resolved.env_kwargs)  # user errors surface before compiling
    backends = check_backends(loggers)
    if backends and out is None:
        raise ConfigError(f"Logging to {', '.join(backends)} needs a run directory; out=None was given.")
    run_path = None
    if out is not None:
        run_path = rundir.create_run_dir(out, name or rundir.default_run_name(resolved.algo, resolved.env))
        _write_config(run_path, resolved, backends)
    return _run(resolved, env_obj, env_params, run_path, loggers, progress, wall_start, resuming=False)


def train_population(resolved: ResolvedConfig, env_obj, env_params, run_path: Path | None, *,
                     progress: bool = True, min_size: int = 1, between_chunks=None) -> TrainResult:
    """Train the members of `resolved` (seeds, and per-member traced settings) as one program.

    `run_path` is a new, empty run directory (or None). `min_size` pads the population to at least
    that many members, so that equal-sized parts of a sweep share one compiled program.
    """
    wall_start = time.perf_counter()
    if run_path is not None:
        _write_config(run_path, resolved, [])
    return _run(resolved, env_obj, env_params, run_path, (), progress, wall_start, resuming=False,
                between_chunks=between_chunks, min_size=min_size)


def load_finished(run_dir: str | Path) -> TrainResult:
    """The TrainResult of a finished run from its directory (state None: restore it with
    `jaxrl.policy.restore_policy`)."""
    run_path = Path(run_dir)
    summary = json.loads((run_path / "summary.json").read_text())
    metrics = rundir.read_metrics(run_path / "metrics.csv") if (run_path / "metrics.csv").exists() else []
    return TrainResult(config_from_dict(rundir.read_config(run_path)), summary, metrics, None, run_path)


def population_capacity(resolved: ResolvedConfig, env_obj, env_params, num_members: int) -> tuple[int, int, float]:
    """How many members of `resolved`'s static group one program can hold in device memory, at most
    `num_members`. Compiles the program for `num_members` (kept for the run) and reads its memory
    analysis; when it does not fit, the per-member footprint sets the (device-multiple) capacity.
    Returns `(capacity, num_compiles, compile_s)` of this check."""
    size = sharding.padded_size(num_members)
    keys, hparams = sharding.place(member_inputs(resolved, size))  # only the shapes matter here
    program, compiles = _get_program(resolved, env_obj, env_params, keys, hparams, jax.random.key(0))
    spent = (compiles, program.compile_s if compiles else 0.0)
    need = program.bytes_per_device
    budget = sharding.memory_budget()
    if need is None or budget is None or need <= budget:
        return (num_members, *spent)
    per_member = need / (size // sharding.num_devices())
    fit = max(1, int(budget // per_member)) * sharding.num_devices()
    warnings.warn(f"{num_members} members need ~{need / 2**30:.2f} GiB per device but ~{budget / 2**30:.2f} GiB "
                  f"is available: training them {fit} at a time.", stacklevel=2)
    return (min(fit, num_members), *spent)


def _write_config(run_path: Path, resolved: ResolvedConfig, backends: Sequence[str]) -> None:
    # Written first, so even a run killed while compiling can be resumed.
    rundir.write_json(
        run_path / "config.json",
        {**resolved.to_dict(), "loggers": list(backends), "versions": rundir.versions(),
         "git_commit": rundir.git_commit()},
    )


def resume(run_dir: str | Path, *, progress: bool = True, loggers: Sequence[Any] | None = None) -> TrainResult:
    """Continue the run in `run_dir` to its configured end, from its newest usable checkpoint.

    The config comes from `run_dir/config.json`; metrics.csv rows after the checkpoint are dropped,
    and the same chunk schedule continues, so the result (params_sha256, metrics.csv steps) equals
    an uninterrupted run's on the same machine. Unusable checkpoints are skipped with a warning;
    with none usable the run restarts from its first update. `loggers` defaults to the run's own.
    """
    return _resume(run_dir, progress=progress, loggers=loggers)


def _resume(run_dir: str | Path, *, progress: bool, loggers: Sequence[Any] | None, between_chunks=None,
            min_size: int = 1) -> TrainResult:
    wall_start = time.perf_counter()
    run_path = Path(run_dir)
    saved = rundir.read_config(run_path)
    resolved = config_from_dict(saved)
    env_obj, env_params = make(resolved.env, **resolved.env_kwargs)
    if loggers is None:
        loggers = saved.get("loggers", [])
    check_backends(loggers)
    if saved.get("versions", {}).get("jax") not in (None, jax.__version__):
        warnings.warn(
            f"{run_path} was trained with jax {saved['versions']['jax']}, resuming with {jax.__version__}: "
            "the result may differ from an uninterrupted run.", stacklevel=3,
        )
    return _run(resolved, env_obj, env_params, run_path, loggers, progress, wall_start, resuming=True,
                between_chunks=between_chunks, min_size=min_size)


def _run(resolved: ResolvedConfig, env_obj, env_params, run_path: Path | None, logger_spec: Sequence[Any],
         progress: bool, wall_start: float, resuming: bool, between_chunks=None, min_size: int = 1) -> TrainResult:
    """The host loop. `between_chunks(chunk=, step=, member_hparams=, eval_returns=)`, when given, runs after
    every chunk but the last (population-based training exploits and explores there) and returns
    `(sources, member_hparams)`: None, or for each member the member whose state it continues from
    (see `_copy_members`), and every member's traced settings from now on (a list of dicts)."""
    enable_compilation_cache()
    with rundir.exclusive(run_path):
        return _host_loop(resolved, env_obj, env_params, run_path, logger_spec, progress, wall_start, resuming,
                          between_chunks, min_size)


def _host_loop(resolved: ResolvedConfig, env_obj, env_params, run_path: Path | None, logger_spec: Sequence[Any],
               progress: bool, wall_start: float, resuming: bool, between_chunks, min_size: int) -> TrainResult:
    ckpt_dir = run_path / "checkpoints" if run_path is not None else None
    num_members = len(resolved.seeds)
    split_envs = _splits_envs(resolved, max(num_members, min_size))
    size = num_members if split_envs else sharding.padded_size(max(num_members, min_size))
    keys, hparams = _place_inputs(member_inputs(resolved, size), split_envs)
    eval_key = jax.random.key(resolved.run.eval_seed)
    num_updates = resolved.config.num_updates
    program, num_compiles = _get_program(resolved, env_obj, env_params, keys, hparams, eval_key)
    steps_per_update = program.steps_per_update
    schedule = _chunk_schedule(num_updates, resolved.run.num_logs)

    done = _Progress(hparams=[hparams_dict(h) for h in resolved.members])
    rows: list[dict[str, Any]] = []
    resumed_from = None
    state = None
    if resuming:
        restored = checkpoint.restore(ckpt_dir, sharding.first_members(program.state_shape, num_members))
        if restored is None:
            warnings.warn(f"No usable checkpoint in {ckpt_dir}; restarting the run from its first update.",
                          stacklevel=3)
            checkpoint.set_aside_after(ckpt_dir, -1)
        else:
            done = _Progress.from_json(restored.progress)
            if restored.progress.get("num_chunks") != len(schedule) or done.updates_done != sum(
                schedule[: done.chunks_done]
            ):
                raise checkpoint.CheckpointError(
                    f"Checkpoint step {restored.step} in {ckpt_dir} does not follow this run's chunk schedule."
                )
            state = jax.device_put(sharding.pad_members(restored.state, size), program.state_sharding)
            resumed_from = restored.step
            if done.hparams is None:  # a checkpoint from before hparams were saved in it
                done.hparams = [hparams_dict(h) for h in resolved.members]
            hparams = _hparams_from_dicts(done.hparams, resolved, size, split_envs)
            checkpoint.set_aside_after(ckpt_dir, restored.step)
        rows = rundir.truncate_metrics(run_path / "metrics.csv", done.metrics_rows)
    if state is None:
        state = program.init(keys, hparams)

    updates_done = done.updates_done
    active = make_loggers(logger_spec, run_path, resolved.to_dict(), resume_step=resumed_from)
    bar = _progress_bar(progress, num_updates * steps_per_update, f"{resolved.algo} {resolved.env}",
                        initial=updates_done * steps_per_update)
    # Last: its thread imports orbax while the first chunks run (after every other import here).
    writer = checkpoint.CheckpointWriter(ckpt_dir, resolved.run.keep_checkpoints) if ckpt_dir else None
    checkpoint_s = 0.0
    last_saved = resumed_from

    def save(step: int) -> None:
        nonlocal checkpoint_s, last_saved
        if writer is None or last_saved == step:
            return
        t0 = time.perf_counter()
        members = sharding.first_members(state, num_members)
        writer.save(step, members, {**done.to_json(), "num_chunks": len(schedule), "algo": resolved.algo,
                                  "env": resolved.env, "seeds": list(resolved.seeds)})
        checkpoint_s += time.perf_counter() - t0
        last_saved = step

    completed = False
    try:
        with catch_stop_signals() as stop:
            for index in range(done.chunks_done, len(schedule)):
                chunk_updates = schedule[index]
                t0 = time.perf_counter()
                state, sums, finite = program.chunk(state, hparams, np.int32(chunk_updates))
                sums, finite = jax.device_get((sums, finite))
                done.train_s += time.perf_counter() - t0
                updates_done += chunk_updates
                step = updates_done * steps_per_update
                last_chunk = index == len(schedule) - 1
                problem = _nonfinite(sums, finite, program.float_leaves, resolved.seeds)
                evaluate_now = problem is None and resolved.run.eval_every > 0 and (
                    (index + 1) % resolved.run.eval_every == 0 or last_chunk
                )
                if evaluate_now:
                    evaluate = program.evaluate()
                    t0 = time.perf_counter()
                    done.last_eval = np.asarray(jax.device_get(evaluate(state, eval_key)[0]))
                    done.eval_s += time.perf_counter() - t0
                new_rows = _rows(sums, chunk_updates, step, resolved.seeds,
                                 done.last_eval.mean(axis=1) if evaluate_now else None,
                                 with_member=resolved.member_hparams is not None)
                rows += new_rows
                for logger in active:
                    logger.log(new_rows)
                if problem is not None:
                    raise NonFiniteError(_nonfinite_message(problem, step, index, len(schedule), resolved,
                                                            run_path, last_saved))
                done.chunks_done, done.updates_done = index + 1, updates_done
                done.metrics_rows += len(new_rows)
                if between_chunks is not None and not last_chunk:
                    sources, new_hparams = between_chunks(
                        chunk=index, step=step, member_hparams=done.hparams,
                        eval_returns=done.last_eval[:num_members] if evaluate_now else None,
                    )
                    if sources is not None:
                        state = _copy_members(state, sources, step, size)
                        done.hparams = new_hparams
                        hparams = _hparams_from_dicts(done.hparams, resolved, size, split_envs)
                every = resolved.run.checkpoint_every
                if last_chunk or stop.requested or (every > 0 and (index + 1) % every == 0):
                    save(step)
                if bar is not None:
                    bar.update(chunk_updates * steps_per_update)
                    bar.set_postfix(_postfix(new_rows, done.train_s, step * num_members))
                if stop.requested and not last_chunk:
                    raise TrainingInterrupted(
                        _interrupt_message(stop.name, step, index, len(schedule), run_path),
                        stop.signum, str(run_path) if run_path else None, step,
                    )
        completed = True
    finally:
        for logger in active:
            logger.close()
        if bar is not None:
            bar.close()
        if writer is not None and not completed:
            writer.close()  # a stopped run's last checkpoint is on disk before the error propagates

    eval_s = done.eval_s
    if done.last_eval is None:  # eval_every == 0: evaluate only the final policy
        evaluate = program.evaluate()
        t0 = time.perf_counter()
        done.last_eval = np.asarray(jax.device_get(evaluate(state, eval_key)[0]))
        eval_s += time.perf_counter() - t0
    final_returns = [float(r) for r in done.last_eval.mean(axis=1)[:num_members]]
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
        "train_s": round(done.train_s, 4),
        "eval_s": round(eval_s, 4),
        "checkpoint_s": round(checkpoint_s, 4),
        "wall_s": round(time.perf_counter() - wall_start, 4),
        "steps_per_s": round(total_steps * num_members / max(done.train_s, 1e-9), 1),
        "num_compiles": num_compiles,
        "params_sha256": params_sha256(program.policy(state), num_members),
        "num_devices": sharding.num_devices(),
        **({"member_hparams": done.hparams} if resolved.member_hparams is not None else {}),
        "resumed_from_step": resumed_from,
        "run_dir": str(run_path) if run_path is not None else None,
    }
    if run_path is not None:
        rundir.plot_curve(rows, run_path / "curve.png", f"{resolved.algo} on {resolved.env}")
    if writer is not None:  # the final checkpoint was written while evaluating and plotting
        t0 = time.perf_counter()
        writer.close()
        checkpoint_s += time.perf_counter() - t0
        summary["checkpoint_s"] = round(checkpoint_s, 4)
        summary["wall_s"] = round(time.perf_counter() - wall_start, 4)
    if run_path is not None:
        rundir.write_json(run_path / "summary.json", summary)
    return TrainResult(resolved, summary, rows, state, run_path)


def member_inputs(resolved: ResolvedConfig, size: int | None = None) -> tuple[jax.Array, Any]:
    """The per-member init keys `[size]` and hyperparameters (pytree of `[size]` arrays) of a run.

    `size` (default: the number of members) pads the population by repeating its last member, so
    that it splits evenly over devices; padded members are never reported or saved. (A smaller
    `size` takes the first members, e.g. to compile for part of a population.)
    """
    size = size or len(resolved.seeds)
    keys = jax.vmap(jax.random.key)(jnp.asarray(_resized(resolved.seeds, size), jnp.uint32))
    return keys, _stack(_resized(resolved.members, size))


def _resized(items: Sequence[Any], size: int) -> list[Any]:
    """The first `size` items, the last one repeated when there are fewer."""
    items = list(items)[:size]
    return items + items[-1:] * (size - len(items))


def build_agent(resolved: ResolvedConfig, env, env_params) -> AgentFns:
    """The agent's pure functions for this run (the env wrapped for episode statistics)."""
    return get_agent(resolved.algo).build(EpisodeStatistics(env), env_params, resolved.config)


def _get_program(resolved: ResolvedConfig, env, env_params, keys, hparams, eval_key) -> tuple[_Program, int]:
    """The cached program for this static configuration, compiling it (AOT) on first use.

    Returns `(program, num_compiles)`: 1 when the training program was compiled by this call.
    """
    size = int(keys.shape[0])
    split_envs = _splits_envs(resolved, size)
    cache_key = (
        resolved.algo, resolved.env, tuple(sorted(resolved.env_kwargs.items())), resolved.config,
        resolved.run.eval_episodes, size, jax.default_backend(), sharding.num_devices(), split_envs,
    )
    if cache_key in _PROGRAMS:
        return _PROGRAMS[cache_key], 0

    fns = build_agent(resolved, env, env_params)
    evaluate = make_evaluate(env, env_params, fns.act, resolved.run.eval_episodes)

    init_fn = _init_members(fns.init, size)
    chunk_fn = _over_members(_with_finite_flags(make_chunk(fns.update)), size, in_axes=(0, 0, None))
    evaluate_fn = _over_members(lambda s, k: evaluate(fns.policy(s), k), size, in_axes=(0, None))
    t0 = time.perf_counter()
    init_traced = jax.jit(init_fn).trace(keys, hparams)
    state_shape = jax.tree.map(lambda o: jax.ShapeDtypeStruct(o.shape, o.dtype), init_traced.out_info)
    # Several devices: split the population over them, or a single run's env batch (its other
    # state replicated; XLA inserts the gradient all-reduce).
    if split_envs:
        state_sharding = sharding.env_axis_sharding(state_shape, resolved.config.num_envs)
        small = sharding.replicated()
    else:
        state_sharding = small = sharding.member_sharding(size)
    # Init on one device: lowered from the trace that gave the state's shapes (no second trace).
    # On several CPU devices: compiled for one of them and its state placed after (`_placed_after`).
    init_on_one_device = state_sharding is not None and jax.default_backend() == "cpu"
    if state_sharding is None:
        init_lowered = init_traced.lower
    elif init_on_one_device:
        init_lowered = _one_device_init(init_fn, keys, hparams)
    else:
        init_lowered = jax.jit(init_fn, out_shardings=state_sharding).trace(keys, hparams).lower
    chunk = jax.jit(chunk_fn, donate_argnums=(0,),
                    **({} if small is None else {"out_shardings": (state_sharding, small, small)}))
    evaluate_all = jax.jit(evaluate_fn, **({} if small is None else {"out_shardings": small}))
    state_shape = sharding.with_sharding(state_shape, state_sharding)
    # XLA compiles in C++ without the GIL: each program starts compiling as soon as it is traced,
    # the long chunk first, so tracing and compiling the others overlap it.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        chunk_future = pool.submit(chunk.lower(state_shape, hparams, jax.ShapeDtypeStruct((), jnp.int32)).compile)
        # init runs once and is tiny: on CPU, skip LLVM's optimisations (its compile time halves).
        init_options = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None
        init_future = _BACKGROUND.submit(init_lowered().compile, init_options)
        # Evaluation is first needed after a chunk: training does not wait for it.
        eval_future = _BACKGROUND.submit(lambda: evaluate_all.lower(state_shape, eval_key).compile())
        init_compiled, chunk_compiled = init_future.result(), chunk_future.result()
    if init_on_one_device:
        init_compiled = _placed_after(init_compiled, state_sharding)
    program = _Program(init_compiled, chunk_compiled, eval_future, policy=fns.policy,
                       steps_per_update=fns.steps_per_update, compile_s=time.perf_counter() - t0,
                       state_shape=state_shape, float_leaves=_float_leaf_names(state_shape),
                       bytes_per_device=_memory_need(chunk_compiled), state_sharding=state_sharding)
    _PROGRAMS[cache_key] = program
    return program, 1


def _copy_members(state: Any, sources: Sequence[int], step: int, size: int) -> Any:
    """Member i continues from member `sources[i]`'s full state (params, optimiser, env, statistics).

    A member that copied another gets a new RNG stream (its key folded with `step`), so the copy
    does not replay its source's experience; members that keep their own state are unchanged.
    """
    sources = list(sources) + list(range(len(sources), size))  # padding members keep their own
    index = jnp.asarray(sources, jnp.int32)
    copied = index != jnp.arange(size)
    return _copy_program(size)(state, index, copied, jnp.int32(step))


@functools.cache
def _copy_program(size: int):
    def copy(state, index, copied, step):
        def take(x):
            x = x[index]
            if not jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) or x.ndim != 1:
                return x
            fresh = jax.vmap(jax.random.fold_in, in_axes=(0, None))(x, step)
            data = jnp.where(copied[:, None], jax.random.key_data(fresh), jax.random.key_data(x))
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))

        return jax.tree.map(take, state)

    members = sharding.member_sharding(size)
    return jax.jit(copy, **({} if members is None else {"out_shardings": members}))


def _memory_need(compiled) -> int | None:
    """Bytes a compiled program needs at once per device (arguments + outputs + temporaries - aliased)."""
    try:
        m = compiled.memory_analysis()
        return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
                   - m.alias_size_in_bytes)
    except Exception:  # noqa: BLE001 - not every backend reports it
        return None


def _hparams_from_dicts(member_hparams: list[dict[str, Any]], resolved: ResolvedConfig, size: int,
                        split_envs: bool = False) -> Any:
    """Device arrays `[size]` of the members' traced settings given as dicts (padded, placed)."""
    return _place_inputs(_stack(_resized([dataclasses.replace(resolved.hparams, **v) for v in member_hparams], size)),
                         split_envs)


def _place_inputs(tree: Any, split_envs: bool) -> Any:
    """Member-batched program inputs (keys, hparams) on the devices: split over the member axis,
    or whole on every device when a single run splits its env batch."""
    return jax.device_put(tree, sharding.replicated()) if split_envs else sharding.place(tree)


def _splits_envs(resolved: ResolvedConfig, num_members: int) -> bool:
    """One run on several devices splits its env batch over them (rather than padding the population)."""
    return num_members == 1 and sharding.divides_envs(getattr(resolved.config, "num_envs", None))


def _over_members(fn, num_members: int, in_axes: tuple[int | None, ...]):
    """`fn` mapped over the leading member axis of the arguments whose `in_axes` entry is 0.

    One member: `fn` itself, that axis taken off the inputs and put back on the outputs. Same
    result as `jax.vmap`, but vmap would turn every matmul into a batched one with a batch of 1,
    which XLA's CPU backend runs about 2x slower (a PQN minibatch step: 228 vs 104 us).
    """
    if num_members > 1:
        return jax.vmap(fn, in_axes=in_axes)

    def single(*args):
        args = [a if axis is None else jax.tree.map(lambda x: x[0], a) for a, axis in zip(args, in_axes)]
        return jax.tree.map(lambda x: x[None], fn(*args))

    return single


def _init_members(init, num_members: int):
    """`init` for every member: vmapped, except on CPU with several members, where they are
    initialised one after another (`lax.map`). XLA:CPU can deadlock when two batched LAPACK calls
    (the QR of orthogonal initialisers) run at once on its intra-op pool (seen on 2 cores: a vmapped
    PPO init executed repeatedly hangs within seconds); unbatched they run inline."""
    if num_members == 1 or jax.default_backend() != "cpu":
        return _over_members(init, num_members, in_axes=(0, 0))
    return lambda keys, hparams: jax.lax.map(lambda member: init(*member), (keys, hparams))


def _one_device_init(init_fn, keys, hparams):
    """`lower` of `init_fn` for this process's first local device alone (see `_placed_after`)."""
    first = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    on_first = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=first), (keys, hparams))
    return jax.jit(init_fn).trace(*on_first).lower


def _placed_after(init_compiled, state_sharding):
    """Run the one-device `init_compiled` on this process's first device, then split its state
    over the devices.

    Only for several CPU devices: each device's part of a sharded init would run at the same time,
    and two batched LAPACK calls (the QR of orthogonal initialisers) on XLA:CPU's shared intra-op
    pool wait on each other forever (seen: SAC, 2 members on 2 CPU devices). Host memory is shared,
    so the placement is a copy."""
    first = jax.local_devices()[0]

    def init(keys, hparams):
        return jax.device_put(init_compiled(*jax.device_put((keys, hparams), first)), state_sharding)

    return init


def _with_finite_flags(chunk):
    """`chunk` that also returns `[num_float_leaves]` bools: is each float leaf of the new state finite."""

    def checked(state, hparams, num_updates):
        state, sums = chunk(state, hparams, num_updates)
        flags = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(state) if _is_float(x)]
        return state, sums, jnp.stack(flags) if flags else jnp.ones((0,), bool)

    return checked


def _is_float(x: Any) -> bool:
    return jnp.issubdtype(x.dtype, jnp.inexact)


def _float_leaf_names(state_shape: Any) -> list[str]:
    paths = jax.tree_util.tree_flatten_with_path(state_shape)[0]
    return [jax.tree_util.keystr(path).lstrip(".") for path, leaf in paths if _is_float(leaf)]


def _nonfinite(sums: dict[str, np.ndarray], finite: np.ndarray, leaf_names: list[str], seeds) -> str | None:
    """What went non-finite in this chunk (a loss metric first, then a state leaf), or None."""

    def seeds_of(bad: np.ndarray) -> str:
        hit = [str(seeds[i]) for i in np.flatnonzero(bad)]
        return f"seed {hit[0]}" if len(hit) == 1 else f"seeds {', '.join(hit)}"

    for name in sorted(sums):
        values = np.asarray(sums[name])
        if "loss" in name and not np.isfinite(values).all():
            first = values[~np.isfinite(values)][0]
            return f"the loss metric {name} became {first} for {seeds_of(~np.isfinite(values))}"
    finite = np.asarray(finite, bool)
    for j, name in enumerate(leaf_names):
        if not finite[:, j].all():
            return f"the state leaf {name} (parameters or statistics) became NaN/inf for {seeds_of(~finite[:, j])}"
    return None


def _nonfinite_message(problem: str, step: int, index: int, num_chunks: int, resolved: ResolvedConfig,
                       run_path: Path | None, last_saved: int | None) -> str:
    lr = getattr(resolved.hparams, "learning_rate", None)
    if run_path is None:
        kept = "Nothing was saved (out=None)."
    elif last_saved is None:
        kept = "No checkpoint had been saved yet, and none was written of the bad state."
    else:
        kept = (f"The bad state was not saved; the last good checkpoint (step {last_saved:,}) is kept in "
                f"{run_path / 'checkpoints'} (`jaxrl eval {run_path} --step {last_saved}` evaluates it).")
    return (
        f"Training stopped at step {step:,} (chunk {index + 1} of {num_chunks}): {problem}. {kept} "
        "Divergence usually means too large a learning rate"
        + (f" (learning_rate={lr:g})" if isinstance(lr, (int, float)) else "")
        + " or badly scaled rewards/observations: start a new run with a smaller learning_rate, "
        "reward_scale or max_grad_norm, or normalize_obs=true."
    )


def _interrupt_message(signal_name: str, step: int, index: int, num_chunks: int, run_path: Path | None) -> str:
    if run_path is None:
        return f"{signal_name}: training stopped at step {step:,} (chunk {index + 1} of {num_chunks}); " \
               "nothing was saved (out=None)."
    return (
        f"{signal_name}: training stopped at step {step:,} (chunk {index + 1} of {num_chunks}) with a checkpoint "
        f"saved in {run_path / 'checkpoints'}. Resume with: jaxrl train --resume {run_path} "
        f"(Python: jaxrl.resume({str(run_path)!r}))."
    )


def _stack(members: Sequence[Any]) -> Any:
    """Hparams dataclasses of Python scalars -> one pytree of `[len(members)]` arrays."""

    def column(*values):
        value = np.asarray(values)
        dtype = np.float32 if value.dtype.kind == "f" else (np.int32 if value.dtype.kind in "iu" else value.dtype)
        return jnp.asarray(value, dtype)

    return jax.tree.map(column, *members)


def _chunk_schedule(num_updates: int, num_logs: int) -> list[int]:
    """Split `num_updates` into at most `num_logs` nearly equal chunks (sizes differ by at most 1)."""
    chunks = max(1, min(num_updates, num_logs))
    base, extra = divmod(num_updates, chunks)
    return [base + (1 if i < extra else 0) for i in range(chunks)]


def _rows(sums: dict[str, np.ndarray], num_updates: int, step: int, seeds, eval_returns,
          with_member: bool = False) -> list[dict]:
    """One metrics row per member (seed) from the summed chunk metrics (padding is ignored)."""
    rows = []
    for i, seed in enumerate(seeds):
        count = float(sums["episode_count"][i])
        row = {
            "step": step,
            **({"member": i} if with_member else {}),
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


def _progress_bar(enabled: bool, total: int, description: str, initial: int = 0):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=description, unit="step", unit_scale=True, dynamic_ncols=True)


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
