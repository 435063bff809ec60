"""Population-based training (Jaderberg et al., 2017) as a sweep strategy.

The population is one compiled program (one static group). After every `every`-th evaluation the
host ranks the members by their evaluation return; each member in the bottom `fraction` copies the
full state (parameters, optimiser, env, statistics) of a member drawn from the top `fraction`
("exploit") and multiplies each swept traced setting by `1 - perturb` or `1 + perturb` ("explore").
Traced settings are program inputs, so none of this recompiles. Every event is appended to
`lineage.csv` in the sweep directory: step, member, the member it copied (itself when kept), its
evaluation return before the event and its settings after it.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl.agents import get_agent
from jaxrl.config import ConfigError, ResolvedConfig, check_seed


@dataclasses.dataclass(frozen=True)
class PBT:
    """Population-based training settings for `jaxrl.sweep(..., pbt=PBT())` (see the module docstring):
    `fraction` replaced/copied, `perturb` factor, exploit/explore `every` N evaluations, host `seed`."""

    fraction: float = 0.25  # bottom fraction replaced by copies of the top fraction
    perturb: float = 0.2  # explore: each swept setting x (1 - perturb) or x (1 + perturb)
    every: int = 1  # exploit/explore at every this-many-th evaluation
    seed: int = 0  # the host RNG of the exploit/explore draws

    def check(self, groups: list[ResolvedConfig], swept: list[str]) -> None:
        """Raise ConfigError unless this sweep can run as PBT."""
        if not 0 < self.fraction <= 0.5 or not 0 < self.perturb < 1 or self.every < 1:
            raise ConfigError(f"PBT needs 0 < fraction <= 0.5, 0 < perturb < 1 and every >= 1, got {self}.")
        check_seed(self.seed, "PBT seed")
        if len(groups) != 1:
            raise ConfigError(
                f"PBT evolves one population, but the swept settings make {len(groups)} static groups (different "
                "shapes or loop lengths); sweep only traced settings, e.g. learning_rate, ent_coef, gamma."
            )
        traced = set(get_agent(groups[0].algo).hparam_fields)
        static = sorted(set(swept) - traced)
        if static or not swept:
            raise ConfigError(
                f"PBT perturbs traced settings only; {', '.join(static) or 'nothing'} cannot be evolved. "
                f"Traced settings of {groups[0].algo}: {', '.join(sorted(traced))}."
            )
        if len(groups[0].seeds) < 2 or int(self.fraction * len(groups[0].seeds)) < 1:
            raise ConfigError(
                f"PBT with fraction={self.fraction} needs at least {int(np.ceil(1 / self.fraction))} members, "
                f"got {len(groups[0].seeds)}; add configurations or seeds."
            )
        if groups[0].run.eval_every < 1:
            raise ConfigError("PBT ranks members by their evaluations: set eval_every >= 1.")

    def make_hook(self, population: ResolvedConfig, sweep_dir: Path | None, swept: list[str], member_ids: list[int]):
        """The `between_chunks` hook of the host loop that evolves `population`'s `swept` settings
        (`member_ids`: the sweep's numbers for the population's members, used in lineage.csv)."""
        import jax

        name = "lineage.csv" if jax.process_count() == 1 else f"lineage-process-{jax.process_index()}.csv"
        return _Hook(self, list(swept), population, None if sweep_dir is None else sweep_dir / name, member_ids)


class _Hook:
    def __init__(self, pbt: PBT, swept: list[str], population: ResolvedConfig, lineage: Path | None,
                 member_ids: list[int]):
        self.pbt, self.swept, self.population, self.lineage = pbt, swept, population, lineage
        self.ids = member_ids
        self.events: list[dict[str, Any]] = []
        self.started = False

    def __call__(self, *, chunk: int, step: int, member_hparams: list[dict[str, Any]],
                 eval_returns: np.ndarray | None):
        # Stateless in the chunk index, so a resumed run acts at the same points as an uninterrupted one.
        evaluations = (chunk + 1) // self.population.run.eval_every
        if eval_returns is None or evaluations % self.pbt.every:
            return None, member_hparams
        if not self.started:
            self.started = True
            self._forget_from(step)
        sources, new = exploit_and_explore(
            eval_returns.mean(axis=1), member_hparams, self.swept, self.pbt.fraction, self.pbt.perturb,
            np.random.default_rng([self.pbt.seed, step]), self._valid,
        )
        scores = eval_returns.mean(axis=1)
        rows = [{"step": step, "member": self.ids[i], "parent": self.ids[src], "seed": self.population.seeds[i],
                 "eval_return": float(scores[i]), **{k: new[i][k] for k in self.swept}}
                for i, src in enumerate(sources)]
        self.events += rows
        if self.lineage is not None:
            new_file = not self.lineage.exists()
            with open(self.lineage, "a", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                if new_file:
                    writer.writeheader()
                writer.writerows(rows)
        return sources, new

    def _forget_from(self, step: int) -> None:
        """Drop this population's lineage rows at or after `step`: a resumed run logged them after
        its last checkpoint and is about to redo those events."""
        if self.lineage is None or not self.lineage.exists():
            return
        with open(self.lineage, newline="") as f:
            rows = list(csv.DictReader(f))
        ids = {str(i) for i in self.ids}
        kept = [r for r in rows if not (r["member"] in ids and int(r["step"]) >= step)]
        if len(kept) != len(rows):
            with open(self.lineage, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(kept)

    def _valid(self, values: dict[str, Any]) -> bool:
        try:
            get_agent(self.population.algo).validate(dataclasses.replace(self.population.hparams, **values))
        except ValueError:
            return False
        return True


def exploit_and_explore(scores: np.ndarray, member_hparams: list[dict[str, Any]], swept: list[str],
                        fraction: float, perturb: float, rng: np.random.Generator, valid=lambda v: True):
    """One PBT step on the host. `scores[i]` is member i's evaluation (higher is better).

    Returns `(sources, new_hparams)`: `sources[i]` is the member whose state member i continues
    from (i itself unless it is in the bottom `fraction`), and every member's settings afterwards.
    A perturbed value that fails `valid` (e.g. gamma > 1) keeps the source's value.
    """
    count = len(scores)
    cut = max(1, int(fraction * count))
    order = np.argsort(-np.asarray(scores), kind="stable")
    top, bottom = order[:cut], order[count - cut :]
    sources = list(range(count))
    new = [dict(h) for h in member_hparams]
    for loser in bottom:
        winner = int(rng.choice(top))
        sources[int(loser)] = winner
        values = dict(member_hparams[winner])
        for key in swept:
            candidate = {**values, key: type(values[key])(values[key] * rng.choice([1 - perturb, 1 + perturb]))}
            if valid(candidate):
                values = candidate
        new[int(loser)] = values
    return sources, new
