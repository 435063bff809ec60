"""`jaxrl meta-train`: the command-line face of `jaxrl.meta.meta_train` (registered by `jaxrl.cli`)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

import tyro


@dataclasses.dataclass
class MetaTrain:
    """Meta-learn lpo's drift objective with OpenES: each generation trains POPULATION candidates x SEEDS
    seeds (and the ES mean) as one program per env; fitness = final eval return.

    Writes OUT/NAME/ with meta.json, fitness.csv, fitness.png, objective.npz + objective.png (the ES mean:
    use it with `jaxrl train lpo --set objective=OUT/NAME/objective.npz`), best_objective.npz + .png and
    es_state.npz (saved after every generation; --resume continues from it, also after kill -9).
    """

    algo: tyro.conf.Positional[Literal["lpo"] | None] = None
    """The agent whose objective is evolved (not with --resume)."""
    env: list[str] = dataclasses.field(default_factory=lambda: ["CartPole-v1"])
    """Meta-training env(s); with several, returns are standardised per env and averaged."""
    temporal: bool = False
    """Temporally aware LPO: the drift also sees the training progress and the remaining budget."""
    population: int = 16
    """Candidates per generation (even: antithetic pairs)."""
    generations: int = 10
    """Generations in total (with --resume: may be raised to continue further)."""
    seeds: int = 2
    """Inner training runs per candidate (one seed set per generation, shared by all candidates)."""
    total_timesteps: int | None = None
    """Environment steps per inner run (default: lpo's tuned config for the env)."""
    set: Annotated[list[str], tyro.conf.arg(metavar="KEY=VALUE")] = dataclasses.field(default_factory=list)
    """Inner-run settings, as for train (e.g. --set num_envs=16 learning_rate=1e-3)."""
    sigma: float = 0.03
    """OpenES: initial noise standard deviation."""
    lr: float = 0.03
    """OpenES: Adam learning rate of the mean."""
    decay: float = 0.99
    """OpenES: per-generation decay of sigma and the learning rate."""
    es_seed: int = 0
    """Seed of the ES's noise."""
    out: str = "runs"
    """Parent folder of the meta-training directory."""
    name: str | None = None
    """Directory name (default: meta-lpo-ENV-TIMESTAMP)."""
    resume: str | None = None
    """Continue the meta-training in this directory from its last saved generation."""
    progress: bool = True
    """Show a progress bar over generations."""


def run_meta_train(cmd: MetaTrain) -> int:
    from jaxrl.cli import _pairs
    from jaxrl.meta import meta_train

    if cmd.resume is None and cmd.algo is None:
        raise ValueError("meta-train needs an algorithm (jaxrl meta-train lpo) or --resume DIR.")
    if cmd.resume is not None and (cmd.algo is not None or cmd.set):
        raise ValueError(f"--resume continues {cmd.resume} with the settings in its meta.json; drop the algorithm "
                         "and --set (only --generations may be raised).")
    result = meta_train(cmd.algo or "lpo", cmd.env, temporal=cmd.temporal, population=cmd.population,
                        generations=cmd.generations, seeds=cmd.seeds, total_timesteps=cmd.total_timesteps,
                        config=_pairs("--set", cmd.set), sigma=cmd.sigma, learning_rate=cmd.lr, decay=cmd.decay,
                        es_seed=cmd.es_seed, out=cmd.out, name=cmd.name, resume=cmd.resume, progress=cmd.progress)
    h = result.history
    print(f"{result.settings.algo} meta-trained on {', '.join(result.settings.envs)} for {len(h['generation'])} "
          f"generations: ES-mean objective return {h['es_mean_return'][-1]:.1f} (first generation "
          f"{h['es_mean_return'][0]:.1f}), best candidate {h['best_so_far'][-1]:.1f}; "
          f"{h['train_s'].sum():.1f}s training.\nlearned objective: {result.run_dir}/objective.npz "
          f"(plot: objective.png); directory: {result.run_dir}")
    return 0
