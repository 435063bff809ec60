"""The host loop: compile once, then run chunks of updates, logging and evaluating between them.

`train("ppo", env="CartPole-v1", seeds=4)` runs 4 independent seeds as ONE vmapped program (built
by `jaxrl.population`, which caches compiled programs in-process; across processes XLA's
persistent compilation cache does the same, see `jaxrl.compile_cache`). Between compiled chunks
Python logs metrics, evaluates, checkpoints and advances the progress bar; a resumed run continues
the same chunk sequence and ends with the same parameters as one that never stopped.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxrl import checkpoint, population, reporting, rundir
from jaxrl.compile_cache import enable_compilation_cache
from jaxrl.config import ConfigError, ResolvedConfig, hparams_dict, resolve
from jaxrl.config import from_dict as config_from_dict
from jaxrl.envs import make
from jaxrl.interrupt import TrainingInterrupted, catch_stop_signals
from jaxrl.loggers import check_backends, make_loggers
from jaxrl.population import sharding
from jaxrl.reporting import params_sha256

__all__ = ["EnvNonFiniteError", "NonFiniteError", "TrainResult", "load_finished", "params_sha256", "resume", "resume_population",
           "train", "train_population"]


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


class NonFiniteError(FloatingPointError):
    """Training stopped because a loss or the state became NaN/inf (the bad state is not saved)."""


class EnvNonFiniteError(NonFiniteError):
    """Training stopped because the environment produced NaN/inf observations or rewards."""


@dataclasses.dataclass
class _Progress:
    """Where the host loop stands; saved in every checkpoint (steps are Python ints: 64-bit safe)."""

    chunks_done: int = 0
    updates_done: int = 0
    metrics_rows: int = 0  # rows of metrics.csv written up to this point
    last_eval: np.ndarray | None = None  # [seeds, eval_episodes] returns of the latest evaluation
    last_eval_means: dict[str, list[float]] | None = None  # per seed: discounted_return, length, success
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
    overwrite: bool = False,
) -> TrainResult:
    """Train `algo` on `env` for each seed in one compiled program.

    `config` overrides settings by name (e.g. `{"num_envs": 64, "learning_rate": 1e-3}`); tuned
    defaults for (algo, env) come from `experiments/<algo>.toml`. With `out=None` nothing is
    written to disk. `loggers` adds backends to metrics.csv: "tensorboard", "wandb" or objects with
    `log(rows)` and `close()`. `resume=RUN_DIR` continues that run instead (see `resume`). An
    existing non-empty `out/name` is refused unless `overwrite=True`, which renames it to
    `name.old-TIMESTAMP` (kept, never deleted) once the config is validated.

    SIGINT/SIGTERM stop the run after the current chunk with a checkpoint saved and raise
    `TrainingInterrupted` (a KeyboardInterrupt); a NaN/inf loss or state raises `NonFiniteError`.
    Returns a `TrainResult`.
    """
    if resume is not None:
        given = [n for n, v in (("config", config), ("total_timesteps", total_timesteps), ("name", name),
                                ("overwrite", overwrite)) if v]
        if given:
            raise ConfigError(
                f"resume= continues {str(resume)!r} with the settings in its config.json; "
                f"drop {', '.join(given)}."
            )
        return _resume(resume, progress=progress, loggers=loggers)
    wall_start = time.perf_counter()
    resolved = resolve(algo, env, config, seeds=seeds, total_timesteps=total_timesteps, use_tuned=use_tuned)
    env_obj, env_params = make(resolved.env, **resolved.env_kwargs)  # user errors surface before compiling
    population.build_agent(resolved, env_obj, env_params)  # e.g. an action space the agent cannot handle
    backends = check_backends(loggers)
    if backends and out is None:
        raise ConfigError(f"Logging to {', '.join(backends)} needs a run directory; out=None was given.")
    run_path = None
    if out is not None:
        name = rundir.default_run_name(resolved.algo, resolved.env) if name is None else name
        run_path = rundir.create_run_dir(out, name, overwrite=overwrite)
        _write_config(run_path, resolved, backends)
    return _run(_Run(resolved, env_obj, env_params, run_path, wall_start), loggers, progress, resuming=False)


def train_population(resolved: ResolvedConfig, env_obj, env_params, run_path: Path | None, *,
                     progress: bool = True, min_size: int = 1, between_chunks=None) -> TrainResult:
    """Train the members of `resolved` (seeds, and per-member traced settings) as one program.

    `run_path` is a new, empty run directory (or None). `min_size` pads the population to at least
    that many members, so that equal-sized parts of a sweep share one compiled program.
    `between_chunks(chunk=, step=, member_hparams=, eval_returns=)`, when given, runs after every
    chunk but the last (population-based training exploits and explores there) and returns
    `(sources, member_hparams)`: None, or for each member the member whose state it continues from
    (see `population.copy_members`), and every member's traced settings from now on (dicts).
    """
    wall_start = time.perf_counter()
    if run_path is not None:
        _write_config(run_path, resolved, [])
    run = _Run(resolved, env_obj, env_params, run_path, wall_start, min_size, between_chunks)
    return _run(run, (), progress, resuming=False)


def resume(run_dir: str | Path, *, progress: bool = True, loggers: Sequence[Any] | None = None) -> TrainResult:
    """Continue the run in `run_dir` to its configured end, from its newest usable checkpoint.

    The config comes from `run_dir/config.json`; metrics.csv rows after the checkpoint are dropped,
    and the same chunk schedule continues, so the result (params_sha256, metrics.csv steps) equals
    an uninterrupted run's on the same machine. Unusable checkpoints are skipped with a warning;
    with none usable the run restarts from its first update. `loggers` defaults to the run's own.
    """
    return _resume(run_dir, progress=progress, loggers=loggers)


def resume_population(run_dir: str | Path, *, progress: bool = True, min_size: int = 1,
                      between_chunks=None) -> TrainResult:
    """`resume` for one population of a sweep (see `train_population` for the arguments)."""
    return _resume(run_dir, progress=progress, loggers=None, min_size=min_size, between_chunks=between_chunks)


def load_finished(run_dir: str | Path) -> TrainResult:
    """The TrainResult of a finished run from its directory (state None: restore it with
    `jaxrl.policy.restore_policy`)."""
    run_path = Path(run_dir)
    summary = json.loads((run_path / "summary.json").read_text())
    metrics = rundir.read_metrics(run_path / "metrics.csv") if (run_path / "metrics.csv").exists() else []
    return TrainResult(config_from_dict(rundir.read_config(run_path)), summary, metrics, None, run_path)


def _write_config(run_path: Path, resolved: ResolvedConfig, backends: Sequence[str]) -> None:
    # Written first, so even a run killed while compiling can be resumed.
    try:
        rundir.write_json(
            run_path / "config.json",
            {"format": rundir.RUN_FORMAT, **resolved.to_dict(), "loggers": list(backends),
             "versions": rundir.versions(), "git_commit": rundir.git_commit()},
        )
    except OSError as exc:
        raise rundir.StorageError(reporting.storage_message(exc, run_path)) from exc


def _resume(run_dir: str | Path, *, progress: bool, loggers: Sequence[Any] | None, between_chunks=None,
            min_size: int = 1) -> TrainResult:
    wall_start = time.perf_counter()
    run_path = Path(run_dir)
    saved = rundir.read_config(run_path)
    resolved = config_from_dict(saved)
    if resolved.member_contexts is not None:  # its env (a ContextualEnv) is not in config.json
        raise ConfigError(f"{str(run_path)!r} is the population of a generalisation matrix (jaxrl contextual "
                          "matrix), which cannot be resumed yet; run the matrix again.")
    env_obj, env_params = make(resolved.env, **resolved.env_kwargs)
    if loggers is None:
        loggers = saved.get("loggers", [])
    check_backends(loggers)
    if saved.get("versions", {}).get("jax") not in (None, jax.__version__):
        warnings.warn(
            f"{run_path} was trained with jax {saved['versions']['jax']}, resuming with {jax.__version__}: "
            "the result may differ from an uninterrupted run.", stacklevel=3,
        )
    run = _Run(resolved, env_obj, env_params, run_path, wall_start, min_size, between_chunks)
    return _run(run, loggers, progress, resuming=True)


@dataclasses.dataclass
class _Run:
    """One run of the host loop: what it was given, and (once started) where it stands."""

    resolved: ResolvedConfig
    env: Any
    env_params: Any
    run_path: Path | None
    wall_start: float
    min_size: int = 1
    between_chunks: Any = None
    # Set by _start:
    layout: population.Layout | None = None
    program: population.Program | None = None
    num_compiles: int = 0
    schedule: list[int] = dataclasses.field(default_factory=list)
    eval_key: Any = None
    state: Any = None
    hparams: Any = None
    done: _Progress = dataclasses.field(default_factory=_Progress)
    rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    resumed_from: int | None = None
    last_saved: int | None = None
    checkpoint_s: float = 0.0
    evaluated_now: bool = False  # whether the latest chunk ended with an evaluation

    @property
    def ckpt_dir(self) -> Path | None:
        return self.run_path / "checkpoints" if self.run_path is not None else None

    @property
    def steps_done(self) -> int:
        return self.done.updates_done * self.program.steps_per_update


def _run(run: _Run, logger_spec: Sequence[Any], progress: bool, resuming: bool) -> TrainResult:
    """The host loop (see `_loop`); a failure to write the run directory (disk full, permissions)
    becomes a `StorageError` that names the problem and the last good checkpoint."""
    try:
        return _loop(run, logger_spec, progress, resuming)
    except OSError as exc:
        if isinstance(exc, rundir.StorageError) or not _writes_into(exc, run.run_path):
            raise
        raise rundir.StorageError(reporting.storage_message(exc, run.run_path)) from exc


def _writes_into(exc: OSError, run_path: Path | None) -> bool:
    """Whether `exc` is about a file in the run directory."""
    return run_path is not None and exc.filename is not None and Path(exc.filename).absolute().is_relative_to(
        run_path.absolute())


def _loop(run: _Run, logger_spec: Sequence[Any], progress: bool, resuming: bool) -> TrainResult:
    """The host loop: start (or restore), run the chunks, then evaluate and summarise."""
    enable_compilation_cache()
    with rundir.exclusive(run.run_path):
        _start(run, resuming)
        resolved = run.resolved
        active = make_loggers(logger_spec, run.run_path, resolved.to_dict(), resume_step=run.resumed_from)
        spu = run.program.steps_per_update
        bar = reporting.progress_bar(progress, resolved.config.num_updates * spu, f"{resolved.algo} {resolved.env}",
                                     initial=run.steps_done)
        # Last: its thread imports orbax while the first chunks run (after every other import here).
        writer = checkpoint.CheckpointWriter(run.ckpt_dir, resolved.run.keep_checkpoints) if run.ckpt_dir else None
        completed = False
        try:
            with catch_stop_signals() as stop:
                for index in range(run.done.chunks_done, len(run.schedule)):
                    new_rows = _train_chunk(run, index, active)
                    _after_chunk(run, index, writer, stop)
                    if bar is not None:
                        bar.update(run.schedule[index] * spu)
                        bar.set_postfix(reporting.postfix(new_rows, run.done.train_s,
                                                          run.steps_done * len(resolved.seeds)))
                    _stop_if_requested(run, index, stop)
            completed = True
        finally:
            for logger in active:
                logger.close()
            if bar is not None:
                bar.close()
            if writer is not None and not completed:
                writer.close()  # a stopped run's last checkpoint is on disk before the error propagates
        return _finish(run, writer)


def _start(run: _Run, resuming: bool) -> None:
    """Compile (or fetch) the program, then initialise the state or restore it from a checkpoint."""
    resolved = run.resolved
    run.layout = population.layout(resolved, run.min_size)
    keys, run.hparams = population.placed_inputs(resolved, run.layout)
    run.eval_key = jax.random.key(resolved.run.eval_seed)
    run.program, run.num_compiles = population.get_program(resolved, run.env, run.env_params, run.layout,
                                                           keys, run.hparams, run.eval_key)
    run.schedule = _chunk_schedule(resolved.config.num_updates, resolved.run.num_logs)
    run.done = _Progress(hparams=[hparams_dict(h) for h in resolved.members])
    if resuming:
        _restore(run)
    if run.state is None:
        run.state = run.program.init(keys, run.hparams)


def _restore(run: _Run) -> None:
    """Continue from the newest usable checkpoint (none usable: from the start, with a warning)."""
    shape = sharding.first_members(run.program.state_shape, run.layout.num_members)
    restored = checkpoint.restore(run.ckpt_dir, shape)
    if restored is None:
        warnings.warn(f"No usable checkpoint in {run.ckpt_dir}; restarting the run from its first update.",
                      stacklevel=4)
    else:
        done = _Progress.from_json(restored.progress)
        if restored.progress.get("num_chunks") != len(run.schedule) or done.updates_done != sum(
            run.schedule[: done.chunks_done]
        ):
            raise checkpoint.CheckpointError(
                f"Checkpoint step {restored.step} in {run.ckpt_dir} does not follow this run's chunk schedule."
            )
        if done.hparams is None:  # a checkpoint from before hparams were saved in it
            done.hparams = [hparams_dict(h) for h in run.resolved.members]
        run.done = done
        run.state = jax.device_put(sharding.pad_members(restored.state, run.layout.size),
                                   run.program.state_sharding)
        run.resumed_from = run.last_saved = restored.step
        _, run.hparams = population.placed_inputs(run.resolved, run.layout, done.hparams)
    # metrics.csv first: a corrupt one stops the resume before any checkpoint is set aside.
    run.rows = rundir.truncate_metrics(run.run_path / "metrics.csv", run.done.metrics_rows)
    checkpoint.set_aside_after(run.ckpt_dir, -1 if restored is None else restored.step)


def _train_chunk(run: _Run, index: int, loggers: Sequence[Any]) -> list[dict[str, Any]]:
    """Run chunk `index`, evaluate when due, log its rows; raise NonFiniteError on NaN/inf."""
    resolved, program, done = run.resolved, run.program, run.done
    chunk_updates = run.schedule[index]
    t0 = time.perf_counter()
    run.state, sums, (finite, first_bad) = program.chunk(run.state, run.hparams, np.int32(chunk_updates))
    sums, finite, first_bad = jax.device_get((sums, finite, first_bad))
    done.train_s += time.perf_counter() - t0
    step = (done.updates_done + chunk_updates) * program.steps_per_update
    last_chunk = index == len(run.schedule) - 1
    env_problem = reporting.env_nonfinite(first_bad, resolved.seeds, resolved.env, done.updates_done,
                                          program.steps_per_update)
    problem = env_problem or reporting.nonfinite(sums, finite, program.float_leaves, resolved.seeds)
    evaluate_now = problem is None and resolved.run.eval_every > 0 and (
        (index + 1) % resolved.run.eval_every == 0 or last_chunk
    )
    if evaluate_now:
        done.eval_s += _evaluate(run)
    new_rows = reporting.metric_rows(sums, chunk_updates, step, resolved.seeds,
                                     done.last_eval.mean(axis=1) if evaluate_now else None,
                                     with_member=resolved.member_hparams is not None)
    run.rows += new_rows
    for logger in loggers:
        logger.log(new_rows)
    if problem is not None:
        error, message = ((EnvNonFiniteError, reporting.env_nonfinite_message) if env_problem
                          else (NonFiniteError, reporting.nonfinite_message))
        raise error(message(problem, step, index, len(run.schedule), resolved, run.run_path, run.last_saved))
    done.chunks_done, done.updates_done = index + 1, done.updates_done + chunk_updates
    done.metrics_rows += len(new_rows)
    run.evaluated_now = evaluate_now
    return new_rows


def _evaluate(run: _Run) -> float:
    """Evaluate every member's policy on the fixed eval episodes; returns the seconds it took."""
    evaluate = run.program.evaluate()
    t0 = time.perf_counter()
    results = jax.device_get(evaluate(run.state, run.hparams, run.eval_key))
    run.done.last_eval = np.asarray(results["return"])
    run.done.last_eval_means = {name: np.asarray(v).mean(axis=1).tolist() for name, v in results.items()
                                if name != "return"}
    return time.perf_counter() - t0


def _after_chunk(run: _Run, index: int, writer, stop) -> None:
    """Population-based training's exploit/explore (all chunks but the last), then a checkpoint when due."""
    last_chunk = index == len(run.schedule) - 1
    if run.between_chunks is not None and not last_chunk:
        sources, new_hparams = run.between_chunks(
            chunk=index, step=run.steps_done, member_hparams=run.done.hparams,
            eval_returns=run.done.last_eval[:run.layout.num_members] if run.evaluated_now else None,
        )
        if sources is not None:
            run.state = population.copy_members(run.state, sources, run.steps_done, run.layout.size)
            run.done.hparams = new_hparams
            _, run.hparams = population.placed_inputs(run.resolved, run.layout, new_hparams)
    every = run.resolved.run.checkpoint_every
    if last_chunk or stop.requested or (every > 0 and (index + 1) % every == 0):
        _save(run, writer)


def _save(run: _Run, writer) -> None:
    """Checkpoint the members' state and the loop's progress (written on a background thread)."""
    step = run.steps_done
    if writer is None or run.last_saved == step:
        return
    t0 = time.perf_counter()
    resolved = run.resolved
    members = sharding.first_members(run.state, run.layout.num_members)
    writer.save(step, members, {**run.done.to_json(), "num_chunks": len(run.schedule), "algo": resolved.algo,
                                "env": resolved.env, "seeds": list(resolved.seeds)})
    run.checkpoint_s += time.perf_counter() - t0
    run.last_saved = step


def _stop_if_requested(run: _Run, index: int, stop) -> None:
    if stop.requested and index != len(run.schedule) - 1:
        raise TrainingInterrupted(
            reporting.interrupt_message(stop.name, run.steps_done, index, len(run.schedule), run.run_path),
            stop.signum, str(run.run_path) if run.run_path else None, run.steps_done,
        )


def _finish(run: _Run, writer) -> TrainResult:
    """The final evaluation (if none ran), the summary, curve.png and summary.json."""
    done, resolved = run.done, run.resolved
    eval_s = done.eval_s
    if done.last_eval is None:  # eval_every == 0: evaluate only the final policy
        eval_s += _evaluate(run)
    summary = _summary(run, eval_s)
    if run.run_path is not None:
        rundir.plot_curve(run.rows, run.run_path / "curve.png", f"{resolved.algo} on {resolved.env}")
    if writer is not None:  # the final checkpoint was written while evaluating and plotting
        t0 = time.perf_counter()
        writer.close()
        run.checkpoint_s += time.perf_counter() - t0
        summary["checkpoint_s"] = round(run.checkpoint_s, 4)
        summary["wall_s"] = round(time.perf_counter() - run.wall_start, 4)
    if run.run_path is not None:
        rundir.write_json(run.run_path / "summary.json", summary)
    return TrainResult(resolved, summary, run.rows, run.state, run.run_path)


def _summary(run: _Run, eval_s: float) -> dict[str, Any]:
    done, resolved, num_members = run.done, run.resolved, run.layout.num_members
    final_returns = [float(r) for r in done.last_eval.mean(axis=1)[:num_members]]
    total_steps = run.steps_done
    return {
        "algo": resolved.algo,
        "env": resolved.env,
        "seeds": list(resolved.seeds),
        "total_timesteps": total_steps,
        "num_updates": done.updates_done,
        "final_eval_return": final_returns,
        "final_eval_return_mean": float(np.mean(final_returns)),
        "final_eval_return_std": float(np.std(final_returns)),
        **{f"final_eval_{name}": values[:num_members] for name, values in (done.last_eval_means or {}).items()
           if name != "success" or not math.isnan(values[0])},
        "eval_episodes": resolved.run.eval_episodes,
        "eval_stochastic": resolved.run.eval_stochastic,
        "compile_s": round(run.program.compile_s if run.num_compiles else 0.0, 4),
        "train_s": round(done.train_s, 4),
        "eval_s": round(eval_s, 4),
        "checkpoint_s": round(run.checkpoint_s, 4),
        "wall_s": round(time.perf_counter() - run.wall_start, 4),
        "steps_per_s": round(total_steps * num_members / max(done.train_s, 1e-9), 1),
        "num_compiles": run.num_compiles,
        "params_sha256": params_sha256(run.program.policy(run.state), num_members),
        "num_devices": sharding.num_devices(),
        **({"member_hparams": done.hparams} if resolved.member_hparams is not None else {}),
        "resumed_from_step": run.resumed_from,
        "run_dir": str(run.run_path) if run.run_path is not None else None,
    }


def _chunk_schedule(num_updates: int, num_logs: int) -> list[int]:
    """Split `num_updates` into at most `num_logs` nearly equal chunks (sizes differ by at most 1)."""
    chunks = max(1, min(num_updates, num_logs))
    base, extra = divmod(num_updates, chunks)
    return [base + (1 if i < extra else 0) for i in range(chunks)]
