"""Meta-training a learned objective by evolution strategies over whole training runs.

`meta_train("lpo", env="CartPole-v1", population=16, generations=20, seeds=2)` evolves the drift
network of `agents.lpo` with OpenES (evosax's `Open_ES`: antithetic sampling, centred-rank fitness
shaping, Adam on the mean; the settings of the LPO reference code: sigma 0.03, learning rate 0.03,
both decayed by 0.99 per generation), starting from `drift.initial_params` (PPO's objective). Each generation trains every candidate x `seeds` seeds, plus
the ES mean x `seeds` (reported, not used by the update), as ONE population program per env (the
host loop's `train_population`; several devices split the members, as in sweeps). A candidate's
fitness is its final deterministic evaluation return, averaged over seeds; with several envs,
each env's returns are standardised over the generation's members first, then averaged.

The run directory holds `meta.json` (the settings), `es_state.npz` (the ES state and fitness
history, written atomically after every generation; `es_state.prev.npz` the one before),
`fitness.csv` / `fitness.png` (the curve), `objective.npz` + `objective.png` (the ES mean: the
learned objective) and `best_objective.npz` + `.png` (the best candidate seen). `resume=DIR`
continues identically from the last generation saved, also after a kill -9.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import population, rundir, training
from jaxrl.blocks import drift
from jaxrl.config import ConfigError, resolve, with_members
from jaxrl.envs import make
from jaxrl.meta import files

# Inner runs log once and evaluate only at the end unless the config says otherwise.
INNER_RUN_DEFAULTS = {"num_logs": 1, "eval_every": 0}


@dataclasses.dataclass(frozen=True)
class MetaSettings:
    """What a meta-training run was asked for (meta.json)."""

    algo: str
    envs: tuple[str, ...]
    temporal: bool
    population: int
    generations: int
    seeds: int
    total_timesteps: int | None
    config: dict[str, Any]
    sigma: float = 0.03
    learning_rate: float = 0.03
    decay: float = 0.99
    es_seed: int = 0

    def check(self) -> None:
        if self.algo != "lpo":
            raise ConfigError(f"meta-train evolves the drift objective of lpo; got algorithm {self.algo!r}.")
        if self.population < 2 or self.population % 2:
            raise ConfigError(f"--population must be an even number >= 2 (OpenES samples antithetic pairs), "
                              f"got {self.population}.")
        for flag, value in (("--generations", self.generations), ("--seeds", self.seeds)):
            if value < 1:
                raise ConfigError(f"{flag} must be >= 1, got {value}.")
        if not self.envs:
            raise ConfigError("meta-train needs at least one --env.")
        for flag, value in (("--sigma", self.sigma), ("--lr", self.learning_rate), ("--decay", self.decay)):
            if not value > 0:
                raise ConfigError(f"{flag} must be > 0, got {value}.")
        given = sorted({"objective", "temporal", "drift_params"} & set(self.config))
        if given:
            raise ConfigError(f"meta-train sets {', '.join(given)} itself (use --temporal); drop it from --set.")


@dataclasses.dataclass
class MetaResult:
    """What `meta_train` returns: the learned objective (the ES mean), the best candidate, the curve."""

    objective: np.ndarray
    best: np.ndarray
    history: dict[str, np.ndarray]
    run_dir: Path | None
    settings: MetaSettings

    def __repr__(self) -> str:
        h = self.history
        return (f"MetaResult({self.settings.algo} on {', '.join(self.settings.envs)}: {len(h['generation'])} "
                f"generations, last ES-mean return {h['es_mean_return'][-1]:.1f}, best candidate "
                f"{h['best_so_far'][-1]:.1f}, run_dir={str(self.run_dir)!r})")


def meta_train(algo: str = "lpo", env: str | Sequence[str] = "CartPole-v1", *, temporal: bool = False,
               population: int = 16, generations: int = 10, seeds: int = 2, total_timesteps: int | None = None,
               config: dict[str, Any] | None = None, sigma: float = 0.03, learning_rate: float = 0.03,
               decay: float = 0.99, es_seed: int = 0, out: str | Path | None = "runs", name: str | None = None,
               resume: str | Path | None = None, progress: bool = True) -> MetaResult:
    """Evolve `algo`'s objective on `env` (one name or several); see the module docstring.

    `config` holds the inner runs' settings (`--set`), `total_timesteps` their length. With
    `resume=DIR` the settings come from DIR/meta.json (only `generations` may be raised) and the
    run continues from its last saved generation. Raises ConfigError before compiling on bad input,
    including a generation that does not fit in device memory.
    """
    if resume is not None:
        run_dir = Path(resume)
        saved = _read_meta(run_dir)
        settings = MetaSettings(**{**saved, "envs": tuple(saved["envs"]),
                                   "generations": max(generations, saved["generations"])})
        if temporal and not settings.temporal:
            raise ConfigError(f"{run_dir} meta-trains an objective without temporal features; --temporal cannot "
                              "be added on resume (start a new run directory).")
    else:
        envs = (env,) if isinstance(env, str) else tuple(env)
        settings = MetaSettings(algo, envs, temporal, population, generations, seeds, total_timesteps,
                                dict(config or {}), sigma, learning_rate, decay, es_seed)
        run_dir = None
    settings.check()
    tasks = [_task(settings, name_) for name_ in settings.envs]
    strategy, es_params = _strategy(settings, tasks[0].num_drift_params)
    key_init, key_mean = jax.random.split(jax.random.key(settings.es_seed))
    cfg = tasks[0].resolved.config
    state = strategy.init(key_init, drift.initial_params(key_mean, cfg.temporal, cfg.drift_hidden), es_params)
    _check_memory(settings, tasks)
    history = {c: np.zeros(0, np.float64) for c in files.FITNESS_COLUMNS}
    best = np.zeros(tasks[0].num_drift_params, np.float32)
    if run_dir is not None:
        loaded = files.load_es_state(run_dir, state)
        if loaded is not None:
            state, history = loaded
            best = np.asarray(history.pop("best_params"), np.float32)
    elif out is not None:
        run_dir = rundir.create_run_dir(out, name or rundir.default_run_name(f"meta-{algo}", settings.envs[0]))
        rundir.write_json(run_dir / "meta.json", {**dataclasses.asdict(settings), "versions": rundir.versions(),
                                                  "git_commit": rundir.git_commit()})
    bar = _bar(progress, settings, len(history["generation"]))
    try:
        with rundir.exclusive(run_dir):
            for generation in range(len(history["generation"]), settings.generations):
                state, row, best = _generation(generation, settings, tasks, strategy, es_params, state, history, best)
                history = {k: np.append(history[k], row[k]) for k in files.FITNESS_COLUMNS}
                if run_dir is not None:
                    _write(run_dir, settings, tasks[0], state, history, best)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(mean=f"{row['fitness_mean']:.1f}", es_mean=f"{row['es_mean_return']:.1f}",
                                    best=f"{row['best_so_far']:.1f}")
    finally:
        if bar is not None:
            bar.close()
    return MetaResult(np.asarray(state.mean, np.float32), best, history, run_dir, settings)


@dataclasses.dataclass
class _Task:
    """One meta-training env: its resolved inner-run config and env objects."""

    resolved: Any
    env: Any
    env_params: Any

    @property
    def num_drift_params(self) -> int:
        return self.resolved.config.num_drift_params


def _task(settings: MetaSettings, env_name: str) -> _Task:
    overrides = {**INNER_RUN_DEFAULTS, **settings.config, "objective": "", "temporal": settings.temporal}
    resolved = resolve(settings.algo, env_name, overrides, total_timesteps=settings.total_timesteps)
    env_obj, env_params = make(resolved.env, **resolved.env_kwargs)
    population.build_agent(resolved, env_obj, env_params)
    return _Task(resolved, env_obj, env_params)


def _strategy(settings: MetaSettings, num_dims: int):
    import optax

    try:
        from evosax.algorithms import Open_ES
    except ImportError:
        raise ConfigError("meta-train needs evosax >= 0.3 (OpenES): pip install 'jaxrl[meta]'.") from None

    strategy = Open_ES(
        population_size=settings.population, solution=jnp.zeros(num_dims),
        optimizer=optax.adam(optax.exponential_decay(settings.learning_rate, 1, settings.decay)),
        std_schedule=optax.exponential_decay(settings.sigma, 1, settings.decay),
    )
    return strategy, strategy.default_params


def _members(task: _Task, settings: MetaSettings, candidates: np.ndarray, generation: int):
    """The generation's population: every candidate (and the ES mean, last) x the generation's seeds."""
    seeds = [generation * settings.seeds + s for s in range(settings.seeds)]
    return with_members(task.resolved, seeds * len(candidates),
                        [{"drift_params": c} for c in candidates for _ in seeds])


def _check_memory(settings: MetaSettings, tasks: list[_Task]) -> None:
    """ConfigError (before any generation runs) if one generation's program does not fit in memory."""
    members = (settings.population + 1) * settings.seeds
    zeros = np.zeros((settings.population + 1, tasks[0].num_drift_params), np.float32)
    for task in tasks:
        pop = _members(task, settings, zeros, 0)
        fit, _, _ = population.capacity(pop, task.env, task.env_params, population.layout(pop))
        if fit < members:
            raise ConfigError(
                f"One generation on {task.resolved.env} is {settings.population} candidates + the ES mean, x "
                f"{settings.seeds} seeds = {members} training runs in one program, but only {fit} fit in device "
                f"memory; lower --population or --seeds (or num_envs / num_steps with --set). Nothing was "
                "trained and no ES state was changed."
            )


def _generation(generation, settings, tasks, strategy, es_params, state, history, best):
    """Ask, train every candidate (and the mean) on every env, tell: `(state, fitness row, best)`."""
    key_ask, key_tell = jax.random.split(jax.random.fold_in(jax.random.key(settings.es_seed + 1), generation))
    candidates, state = strategy.ask(key_ask, state, es_params)
    members = np.concatenate([np.asarray(candidates), np.asarray(state.mean)[None]], axis=0)
    t0 = time.perf_counter()
    returns = np.stack([_returns(task, settings, members, generation) for task in tasks])  # [envs, P + 1]
    train_s = time.perf_counter() - t0
    if len(tasks) > 1:
        scores = ((returns - returns.mean(axis=1, keepdims=True)) / (returns.std(axis=1, keepdims=True) + 1e-8))
    else:
        scores = returns
    fitness = scores.mean(axis=0)[: settings.population]
    state, _ = strategy.tell(key_tell, candidates, -jnp.asarray(fitness), state, es_params)  # evosax minimises
    raw = returns.mean(axis=0)
    previous_best = history["best_so_far"][-1] if len(history["best_so_far"]) else -np.inf
    top = int(np.argmax(raw[: settings.population]))
    if raw[top] > previous_best:
        best, previous_best = np.asarray(candidates[top], np.float32), float(raw[top])
    row = {"generation": generation, "fitness_mean": raw[:-1].mean(), "fitness_max": raw[:-1].max(),
           "fitness_min": raw[:-1].min(), "best_so_far": previous_best, "es_mean_return": raw[-1],
           "train_s": train_s}
    return state, row, best


def _returns(task: _Task, settings: MetaSettings, members: np.ndarray, generation: int) -> np.ndarray:
    """`[len(members)]` final eval returns, averaged over the seeds, of one population program."""
    pop = _members(task, settings, members, generation)
    result = training.train_population(pop, task.env, task.env_params, None, progress=False)
    return np.asarray(result.summary["final_eval_return"]).reshape(len(members), settings.seeds).mean(axis=1)


def _write(run_dir: Path, settings: MetaSettings, task: _Task, state, history, best) -> None:
    """Everything of a finished generation; the ES state last (resume starts from it)."""
    cfg = task.resolved.config
    info = {"envs": list(settings.envs), "generation": int(history["generation"][-1]) + 1,
            "population": settings.population, "seeds": settings.seeds,
            "total_timesteps": cfg.total_timesteps, "clip_eps": float(task.resolved.hparams.clip_eps)}
    title = f"{settings.algo}{' (temporal)' if settings.temporal else ''} on {', '.join(settings.envs)}"
    for stem, params in (("objective", np.asarray(state.mean)), ("best_objective", best)):
        drift.save_objective(run_dir / f"{stem}.npz", params, cfg.temporal, cfg.drift_hidden, info)
        files.plot_drift(run_dir / f"{stem}.png", params, cfg.temporal, cfg.drift_hidden, info["clip_eps"],
                         f"{stem.replace('_', ' ')}: {title}, generation {info['generation']}")
    files.write_fitness_csv(run_dir / "fitness.csv", history)
    files.plot_fitness(run_dir / "fitness.png", history, title)
    files.save_es_state(run_dir, state, {**history, "best_params": best})


def _read_meta(run_dir: Path) -> dict[str, Any]:
    import json

    try:
        data = json.loads((run_dir / "meta.json").read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{run_dir} is not a meta-training directory (no readable meta.json: {exc}).") from None
    return {f.name: data[f.name] for f in dataclasses.fields(MetaSettings) if f.name in data}


def _bar(progress: bool, settings: MetaSettings, done: int):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=settings.generations, initial=done, desc=f"meta-train {settings.algo} {'+'.join(settings.envs)}",
                unit="gen", dynamic_ncols=True)
