"""The `jaxrl` command line.

    jaxrl train ALGO --env ENV [--seeds N] [--total-timesteps T] [--set KEY=VALUE ...] [--out DIR] [--name NAME]
               [--log tensorboard wandb] [--overwrite]
    jaxrl train --resume RUN_DIR
    jaxrl sweep ALGO --env ENV [--grid KEY=V1,V2 ...] [--random N --range KEY=LO:HI[:log] ...] [--seeds S]
               [--pbt] [--max-members M] [--set KEY=VALUE ...] [--out DIR] [--name NAME]
    jaxrl meta-train lpo --env ENV [--temporal] [--population P] [--generations G] [--seeds S] [--resume DIR]
    jaxrl eval RUN_DIR [--episodes N] [--env ENV] [--step STEP]
    jaxrl compare RUN_OR_SWEEP_DIR ... | --scores FILE.csv [--label NAME=DIR,...] [--adastop --n N --K K]
               [--json] [--out DIR]
    jaxrl runs [DIR ...] [--sort COLUMN] [--csv FILE]
    jaxrl plot RUN_DIR ... [--metric COLUMN] [--out FILE]
    jaxrl envs [--no-adapters]
    jaxrl check-env ENV
    jaxrl contextual matrix ALGO --env ENV --context FIELD=LO:HI:N ... | select MATRIX_DIR --strategy S --budget K
"""

from __future__ import annotations

import os
import sys
import warnings

import tyro

from jaxrl.cli_meta import MetaTrain, run_meta_train
from jaxrl.cli_options import CheckEnv, Compare, Envs, Eval, Plot, Runs, Sweep, Train
from jaxrl.contextual.cli import Contextual
from jaxrl.contextual.cli import run as run_contextual

LIST_FLAGS = ("--set", "--grid", "--range", "--log", "--label", "--normalize")


def _merge_repeated(argv: list[str]) -> list[str]:
    """`--set a=1 --set b=2` -> `--set a=1 b=2` (argparse would keep only the last occurrence)."""
    values: dict[str, list[str]] = {}
    out: list[str] = []
    current = None
    for token in argv:
        if token in LIST_FLAGS:
            current = token
            if token not in values:
                values[token] = []
                out.append(token)
            continue
        if token.startswith("-"):
            current = None
        if current is not None:
            values[current].append(token)
        else:
            out.append(token)
    merged: list[str] = []
    for token in out:
        merged.append(token)
        if token in values:
            merged += values[token]
    return merged


# Subcommand -> its options (a dataclass whose field docstrings are the help; docs/cli.md is made from them).
COMMANDS = {"train": Train, "sweep": Sweep, "meta-train": MetaTrain, "eval": Eval, "compare": Compare, "runs": Runs,
            "plot": Plot, "envs": Envs, "check-env": CheckEnv, "contextual": Contextual}
DESCRIPTION = "jaxrl: JAX-native reinforcement learning. Whole training runs compile to one program."


def parse(argv: list[str]):
    """The options dataclass of the command line `argv` (without the program name); exits on a
    malformed line as argparse does (status 2, usage on stderr)."""
    return tyro.extras.subcommand_cli_from_dict(COMMANDS, prog="jaxrl", description=DESCRIPTION,
                                                args=_merge_repeated(argv))


def main(argv: list[str] | None = None) -> int:
    # `--env package.module:Class` imports from the current directory, as `python -m` would.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    command = parse(sys.argv[1:] if argv is None else argv)
    from jaxrl.interrupt import TrainingInterrupted
    from jaxrl.rundir import RunInUseError, StorageError

    # Warnings (e.g. a skipped corrupt checkpoint) as one line each, without source locations.
    warnings.formatwarning = lambda message, category, *args, **kwargs: f"jaxrl: warning: {message}\n"
    try:
        if isinstance(command, Train):
            return _train(command)
        if isinstance(command, Sweep):
            return _sweep(command)
        if isinstance(command, MetaTrain):
            return run_meta_train(command)
        if isinstance(command, Eval):
            return _eval(command)
        if isinstance(command, Compare):
            return _compare(command)
        if isinstance(command, Runs):
            return _runs(command)
        if isinstance(command, Plot):
            from jaxrl.plots import plot_runs

            if command.out is not None:
                _check_writable_file("--out", command.out, f"{command.metric}.png")
            print(f"wrote {plot_runs(command.run_dirs, command.metric, command.out)}")
            return 0
        if isinstance(command, Envs):
            from jaxrl.envs import list_envs

            print("\n".join(list_envs(include_adapters=command.adapters)))
            return 0
        if isinstance(command, CheckEnv):
            return _check_env(command)
        if isinstance(command, Contextual):
            return run_contextual(command)
    except (ValueError, TypeError, FileExistsError) as exc:
        # User mistakes (bad names, values, paths) are reported in one paragraph, no traceback.
        print(f"jaxrl: error: {exc}", file=sys.stderr)
        return 2
    except (RunInUseError, StorageError) as exc:
        print(f"jaxrl: error: {exc}", file=sys.stderr)
        return 1
    except FloatingPointError as exc:  # the non-finite guard stopped training
        print(f"jaxrl: {exc}", file=sys.stderr)
        return 1
    except TrainingInterrupted as exc:  # stopped by SIGINT/SIGTERM with a checkpoint saved
        print(f"jaxrl: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("jaxrl: interrupted.", file=sys.stderr)
        return 130
    raise AssertionError(f"unhandled command {command!r}")


def _train(cmd: Train) -> int:
    from jaxrl.training import resume, train

    if cmd.resume is not None:
        given = [flag for flag, used in (
            ("ALGO", cmd.algo is not None), ("--env", cmd.env != "CartPole-v1"), ("--seeds", cmd.seeds != "1"),
            ("--total-timesteps", cmd.total_timesteps is not None), ("--set", bool(cmd.set)),
            ("--name", cmd.name is not None), ("--out", cmd.out != "runs"), ("--overwrite", cmd.overwrite),
        ) if used]
        if given:
            raise ValueError(
                f"--resume continues {cmd.resume} with the settings in its config.json; drop {', '.join(given)}."
            )
        _report(resume(cmd.resume, progress=cmd.progress, loggers=cmd.log or None).summary)
        return 0
    if cmd.algo is None:
        raise ValueError("train needs an algorithm (e.g. jaxrl train ppo) or --resume RUN_DIR.")
    result = train(
        cmd.algo,
        cmd.env,
        seeds=_seeds(cmd.seeds),
        total_timesteps=cmd.total_timesteps,
        config=_pairs("--set", cmd.set),
        out=cmd.out,
        name=cmd.name,
        progress=cmd.progress,
        loggers=cmd.log,
        overwrite=cmd.overwrite,
    )
    _report(result.summary)
    return 0


def _seeds(text: str) -> int | list[int]:
    """`--seeds N` (seeds 0..N-1) or `--seeds 3,4,5`."""
    try:
        return [int(v) for v in text.split(",")] if "," in text else int(text)
    except ValueError:
        raise ValueError(f"--seeds takes a count N or a list of seeds like 3,4,5, got {text!r}.") from None


def _pairs(flag: str, items: list[str], metavar: str = "KEY=VALUE") -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{flag} takes {metavar} pairs, got {item!r}.")
        out[key.strip()] = value.strip()
    return out


def _split_values(text: str) -> list[str]:
    """`"1e-3,3e-4"` -> ["1e-3", "3e-4"]; commas inside brackets stay (`"[64,64],[32]"` -> 2 values)."""
    values, depth, current = [], 0, ""
    for char in text:
        depth += {"[": 1, "(": 1, "]": -1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            values.append(current.strip())
            current = ""
        else:
            current += char
    values.append(current.strip())
    return [v for v in values if v]


def _sweep(cmd: Sweep) -> int:
    from jaxrl.pbt import PBT
    from jaxrl.sweeps import sweep

    if cmd.resume is not None:
        if cmd.algo is not None:
            raise ValueError(f"--resume continues {cmd.resume} with the settings in its sweep.json; drop ALGO.")
        from jaxrl.sweeps import resume_sweep

        return _report_sweep(resume_sweep(cmd.resume, progress=cmd.progress))
    if cmd.algo is None:
        raise ValueError("sweep needs an algorithm (e.g. jaxrl sweep ppo) or --resume SWEEP_DIR.")
    grid = {k: _split_values(v) for k, v in _pairs("--grid", cmd.grid, "KEY=V1,V2").items()}
    pbt = PBT(fraction=cmd.pbt_fraction, perturb=cmd.pbt_perturb, every=cmd.pbt_every) if cmd.pbt else None
    result = sweep(cmd.algo, cmd.env, grid=grid, random=cmd.random,
                   ranges=_pairs("--range", cmd.range, "KEY=LO:HI[:log]"), seeds=cmd.seeds,
                   config=_pairs("--set", cmd.set), total_timesteps=cmd.total_timesteps, out=cmd.out,
                   name=cmd.name, max_members=cmd.max_members, sample_seed=cmd.sample_seed, pbt=pbt,
                   progress=cmd.progress)
    return _report_sweep(result)


def _report_sweep(result) -> int:
    from jaxrl.sweeps import format_ranking

    s = result.summary
    print(f"{s['algo']} on {s['env']}: {s['num_members']} members ({s['num_configs']} configurations x seeds) in "
          f"{s['num_groups']} static group(s), {s['num_compiles']} compile(s); "
          f"{s['train_s']:.1f}s train + {s['compile_s']:.1f}s compile, {s['wall_s']:.1f}s wall")
    print(format_ranking(result.ranking))
    print(f"sweep directory: {s['sweep_dir']}")
    return 0


def _report(s: dict) -> None:
    resumed = f" (resumed from step {s['resumed_from_step']:,})" if s.get("resumed_from_step") else ""
    per_seed = ", ".join(f"{r:.1f}" for r in s["final_eval_return"])
    print(
        f"{s['algo']} on {s['env']}: final eval return {s['final_eval_return_mean']:.1f} "
        f"+- {s['final_eval_return_std']:.1f} over {len(s['seeds'])} seed(s) [{per_seed}] "
        f"({s['eval_episodes']} {'stochastic' if s.get('eval_stochastic') else 'deterministic'} episodes each)\n"
        f"{s['total_timesteps']:,} steps/seed in {s['train_s']:.1f}s train + {s['compile_s']:.1f}s compile "
        f"({s['steps_per_s']:,.0f} steps/s){resumed}; run directory: {s['run_dir']}"
    )


def _eval(cmd: Eval) -> int:
    import numpy as np

    from jaxrl.config import check_seed
    from jaxrl.policy import evaluate_run

    if cmd.seed is not None:
        check_seed(cmd.seed)
    result = evaluate_run(cmd.run_dir, episodes=cmd.episodes, env=cmd.env, step=cmd.step,
                          deterministic=False if cmd.stochastic else None, seed=cmd.seed)
    returns, success = result["returns"], result["success"]
    has_success = not np.isnan(success).all()
    mode = "deterministic" if result["deterministic"] else "stochastic"
    print(f"{result['algo']} on {result['env']}: policy at step {result['step']:,}, "
          f"{result['episodes']} {mode} episodes per seed")
    print(f"{'seed':>6} {'mean':>10} {'std':>10} {'min':>10} {'max':>10} {'discounted':>11} {'length':>8}"
          + (f" {'success':>8}" if has_success else ""))
    rows = [(str(seed), i) for i, seed in enumerate(result["seeds"])]
    for label, i in rows + ([("all", slice(None))] if len(rows) > 1 else []):
        r = returns[i]
        print(f"{label:>6} {r.mean():>10.2f} {r.std():>10.2f} {r.min():>10.2f} {r.max():>10.2f} "
              f"{result['discounted_returns'][i].mean():>11.2f} {result['lengths'][i].mean():>8.1f}"
              + (f" {np.nanmean(success[i]):>8.2f}" if has_success else ""))
    if len(rows) > 1:
        means = returns.mean(axis=1)
        print(f"mean over seeds {np.mean(means):.2f} +- {np.std(means):.2f}")
    return 0


def _compare(cmd: Compare) -> int:
    import json
    from pathlib import Path

    from jaxrl import compare
    from jaxrl.config import check_seed

    if sum(map(bool, (cmd.paths or cmd.label, cmd.scores, cmd.run))) != 1:
        raise ValueError("compare takes run/sweep directories (or --label NAME=DIR,...), --scores FILE.csv, or "
                         "--adastop --run NAME=ALGO@ENV[,KEY=VALUE...] ..., one of the three.")
    if cmd.run and not cmd.adastop:
        raise ValueError("--run trains agents for an AdaStop comparison: add --adastop (and --n, --K, --alpha).")
    if cmd.reps < 100 or not 0 < cmd.confidence < 1:
        raise ValueError(f"--reps must be >= 100 and --confidence in (0, 1), got {cmd.reps} and {cmd.confidence}.")
    if cmd.adastop and (cmd.n < 1 or cmd.K < 1 or not 0 < cmd.alpha < 1):
        raise ValueError(f"AdaStop needs --n >= 1, --K >= 1 and --alpha in (0, 1), got {cmd.n}, {cmd.K}, {cmd.alpha}.")
    check_seed(cmd.seed)
    normalization = {env: _range(env, text) for env, text in _pairs("--normalize", cmd.normalize, "ENV=MIN:MAX").items()}
    out = Path(cmd.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {cmd.out!r} is a file; give a folder for compare.png (it is created if missing).")
    if cmd.run:
        scores, decisions, out = _adastop_training(cmd)
    elif cmd.scores:
        scores = compare.scores_from_csv(cmd.scores)
    else:
        labels = {k: _split_values(v) for k, v in _pairs("--label", cmd.label, "NAME=DIR,DIR").items()}
        scores = compare.scores_from_runs(cmd.paths, labels)
    result = compare.compare(scores, normalization, cmd.reps, cmd.confidence, cmd.seed)
    if cmd.run:
        result.adastop = decisions
    elif cmd.adastop:
        result.adastop = compare.adastop_decisions(scores, cmd.n, cmd.K, cmd.alpha, cmd.seed)
    out.mkdir(parents=True, exist_ok=True)
    image = compare.plot(result, out / "compare.png", cmd.reps, cmd.seed)
    if cmd.json:
        print(json.dumps({**compare.to_json(result), "image": str(image)}, indent=1))
    else:
        print(compare.format_table(result))
        print(f"wrote {image}")
    return 0


def _adastop_training(cmd: Compare):
    """Train and test the --run agents interim by interim; their scores, AdaStop's result and the folder."""
    import datetime
    import shlex
    from pathlib import Path

    from jaxrl.adastop_training import AgentSpec, compared, run_adastop

    if cmd.n < 2:
        raise ValueError(f"--run needs --n >= 2 seeds per interim (bootstrap intervals need 2 runs), got {cmd.n}.")
    specs = [AgentSpec.parse(text) for text in cmd.run]
    out = Path(cmd.out) / f"adastop-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    command = shlex.join(["jaxrl", *sys.argv[1:]]) if sys.argv[1:2] == ["compare"] else None
    test, scores = run_adastop(specs, out, cmd.n, cmd.K, cmd.alpha, cmd.total_timesteps, cmd.seed, cmd.progress,
                               command)
    return (*compared(specs, out, test, scores), out)


def _range(env: str, text: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in text.split(":"))
    except ValueError:
        raise ValueError(f"--normalize {env}={text!r} is not MIN:MAX (e.g. CartPole-v1=0:500).") from None
    if not low < high:
        raise ValueError(f"--normalize {env}={text!r} needs MIN < MAX.")
    return low, high


def _runs(cmd: Runs) -> int:
    from jaxrl.catalogue import catalogue, format_catalogue, write_csv

    if cmd.csv:
        _check_writable_file("--csv", cmd.csv, "runs.csv")
    rows = catalogue(cmd.paths)
    if cmd.sort not in rows[0]:
        raise ValueError(f"--sort {cmd.sort!r} is not a column; columns: {', '.join(rows[0])}.")
    rows.sort(key=lambda r: (r[cmd.sort] is None, r[cmd.sort] if r[cmd.sort] is not None else 0))
    print(format_catalogue(rows))
    if cmd.csv:
        write_csv(rows, cmd.csv)
        print(f"wrote {cmd.csv}")
    return 0


def _check_writable_file(flag: str, path: str, example: str) -> None:
    """Raise ValueError unless `path` can be written: its folder exists and it is not a folder."""
    from pathlib import Path

    target = Path(path)
    if target.is_dir():
        raise ValueError(f"{flag} {path!r} is a folder; give a file name (e.g. {target / example}).")
    if not target.parent.is_dir():
        raise ValueError(f"{flag} {path!r}: the folder {str(target.parent)!r} does not exist; create it first "
                         "or choose another path.")


def _check_env(cmd: CheckEnv) -> int:
    from jaxrl.config import env_settings
    from jaxrl.envs import EnvCheckError, check_env, make

    settings = _pairs("--set", cmd.set, "env.KEY=VALUE")
    bad = [k for k in settings if not k.startswith("env.")]
    if bad:
        raise ValueError(f"check-env --set takes environment settings env.KEY=VALUE, got {', '.join(bad)}.")
    env, params = make(cmd.env, **env_settings(settings))
    try:
        report = check_env(env, params)
    except EnvCheckError as exc:
        print(f"jaxrl: check-env failed: {exc}", file=sys.stderr)
        return 1
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
