"""`jaxrl compare` and `jaxrl runs`: statistics over real runs and over a scores CSV, JSON output,
AdaStop decisions, the catalogue, and one-paragraph errors (exit 2) for bad input."""

import csv
import json

import numpy as np
import pytest

import jaxrl
from jaxrl import cli, compare

SMALL = {"num_envs": 4, "num_steps": 32, "num_logs": 3, "eval_episodes": 4}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two settings of PPO, 3 seeds each, plus a one-seed run."""
    out = tmp_path_factory.mktemp("runs")
    for name, lr in (("fast", 3e-3), ("slow", 1e-5)):
        jaxrl.train("ppo", "CartPole-v1", seeds=3, total_timesteps=2048, config={**SMALL, "learning_rate": lr},
                    out=out / "pair", name=name, progress=False)
    jaxrl.train("ppo", "CartPole-v1", seeds=1, total_timesteps=256, config=SMALL, out=out, name="single",
                progress=False)
    return out


def _csv(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["agent", "env", "seed", "score"])
        writer.writerows(rows)
    return path


def test_compare_runs_groups_by_the_setting_that_differs(runs, tmp_path, capsys):
    assert cli.main(["compare", str(runs / "pair"), "--out", str(tmp_path), "--reps", "500"]) == 0
    out = capsys.readouterr().out
    assert "ppo learning_rate=0.003" in out and "ppo learning_rate=1e-05" in out
    assert "P(X > Y)" in out and (tmp_path / "compare.png").stat().st_size > 10_000
    assert cli.main(["compare", str(runs / "pair"), "--out", str(tmp_path), "--reps", "500", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {e["metric"] for e in data["estimates"]} == {"mean", "median", "iqm"}
    assert all(e["lower"] <= e["estimate"] <= e["upper"] for e in data["estimates"])
    assert data["runs"] == {"ppo learning_rate=0.003": {"CartPole-v1": 3}, "ppo learning_rate=1e-05": {"CartPole-v1": 3}}


def test_labels_name_agents(runs, tmp_path, capsys):
    args = ["compare", "--label", f"A={runs / 'pair' / 'fast'}", f"B={runs / 'pair' / 'slow'}", "--out",
            str(tmp_path), "--reps", "200", "--json"]
    assert cli.main(args) == 0
    assert json.loads(capsys.readouterr().out)["agents"] == ["A", "B"]


def test_scores_csv_values_and_probability_of_improvement(tmp_path):
    rows = [("good", env, s, 10 + s) for env in ("e1", "e2") for s in range(8)]
    rows += [("bad", env, s, s - 100) for env in ("e1", "e2") for s in range(8)]
    scores = compare.scores_from_csv(_csv(tmp_path / "s.csv", rows))
    result = compare.compare(scores, {"e1": (-100, 20), "e2": (-100, 20)}, reps=300)
    by = {(a, e, m): i for a, e, m, i in result.estimates}
    np.testing.assert_allclose(by[("good", "e1", "iqm")].point, np.mean([12, 13, 14, 15]))  # middle half of 10..17
    np.testing.assert_allclose(by[("good", "e1", "mean")].point, 13.5)
    np.testing.assert_allclose(by[("good", "all", "mean")].point, (13.5 + 100) / 120)
    poi = {(x, y, e): i for x, y, e, i in result.improvements}
    assert poi[("good", "bad", "all")].point == 1.0 and poi[("bad", "good", "e1")].upper == 0.0


def test_adastop_on_a_csv_with_too_few_interims_says_how_many_seeds_are_needed(tmp_path, capsys):
    rng = np.random.default_rng(0)
    rows = [(agent, "env", s, rng.normal(0.0, 1.0)) for agent in ("a", "b") for s in range(5)]
    path = _csv(tmp_path / "s.csv", rows)
    assert cli.main(["compare", "--scores", str(path), "--adastop", "--n", "5", "--K", "4", "--out",
                     str(tmp_path), "--reps", "200"]) == 0
    out = capsys.readouterr().out
    assert "a vs b: continue (undecided" in out and "5 more seed(s) for the next interim, at most 15 in all" in out
    far = [(agent, "env", s, (100.0 if agent == "a" else 0.0) + rng.normal()) for agent in ("a", "b")
           for s in range(20)]
    assert cli.main(["compare", "--scores", str(_csv(tmp_path / "far.csv", far)), "--adastop", "--json",
                     "--out", str(tmp_path), "--reps", "200"]) == 0
    decision = json.loads(capsys.readouterr().out)["adastop"]["env"]["decisions"][0]
    assert decision["decision"] == "larger" and decision["interim"] is not None


def test_runs_catalogue_lists_and_exports(runs, tmp_path, capsys):
    assert cli.main(["runs", str(runs), "--sort", "run_dir", "--csv", str(tmp_path / "runs.csv")]) == 0
    out = capsys.readouterr().out
    assert out.count("CartPole-v1") == 3 and "final return IQM [95% CI]" in out
    rows = list(csv.DictReader(open(tmp_path / "runs.csv")))
    assert [r["seeds"] for r in rows] == ["3", "3", "1"]


@pytest.mark.parametrize("content, message", [
    ("", "needs a header with columns agent,env,seed,score"),
    ("agent,env,score\na,e,1\n", "missing: seed"),
    ("agent,env,seed,score\na,e,0,high\n", "line 2: score 'high' is not a number"),
    ("agent,env,seed,score\na,e,0,1\nb,e,0,2\n", "at least 2 runs (seeds) per agent"),
    ("agent,env,seed,score\na,e,0,1\na,e,1,2\n", "at least 2 agents"),
])
def test_bad_scores_csv_is_one_paragraph_and_exit_2(tmp_path, capsys, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    assert cli.main(["compare", "--scores", str(path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_bad_run_directories_are_one_paragraph_and_exit_2(runs, tmp_path, capsys):
    (tmp_path / "unfinished").mkdir()
    (runs / "pair" / "fast" / "config.json").read_bytes()
    (tmp_path / "unfinished" / "config.json").write_bytes((runs / "pair" / "fast" / "config.json").read_bytes())
    for args, message in (([str(tmp_path / "unfinished"), str(runs / "pair" / "slow")], "has no summary.json"),
                          ([str(tmp_path / "nowhere")], "does not exist"),
                          ([str(runs / "single"), str(runs / "pair" / "fast")], "at least 2 runs (seeds)")):
        assert cli.main(["compare", *args, "--out", str(tmp_path)]) == 2
        assert message in capsys.readouterr().err


def test_adastop_trains_undecided_agents_interim_by_interim(tmp_path, capsys):
    run = ["a=ppo@CartPole-v1,learning_rate=3e-3,num_envs=4,num_steps=32,num_logs=2,eval_episodes=4",
           "b=ppo@CartPole-v1,learning_rate=1e-5,num_envs=4,num_steps=32,num_logs=2,eval_episodes=4"]
    args = ["compare", "--adastop", "--run", *run, "--n", "2", "--K", "2", "--total-timesteps", "512",
            "--out", str(tmp_path), "--no-progress", "--reps", "200", "--json"]
    assert cli.main(args) == 0
    data = json.loads(capsys.readouterr().out)
    (folder,) = tmp_path.glob("adastop-*")
    record = json.loads((folder / "adastop.json").read_text())
    interims = record["interims_done"]
    assert 1 <= interims <= 2 and all(len(v) == 2 * interims for v in record["scores"].values())
    assert data["adastop"]["CartPole-v1"]["decisions"][0]["decision"] in ("larger", "smaller", "equal")
    commands = (folder / "commands.txt").read_text()
    assert "--seeds 0,1 " in commands and ("--seeds 2,3 " in commands) == (interims == 2)
    assert {p.name for p in (folder / "runs").iterdir()} >= {"a-interim-1", "b-interim-1"}


def test_adastop_run_specs_are_checked_before_training(tmp_path, capsys):
    assert cli.main(["compare", "--adastop", "--run", "a=ppo@CartPole-v1,num_env=4", "b=ppo@CartPole-v1",
                     "--out", str(tmp_path)]) == 2
    assert "Unknown setting 'num_env'" in capsys.readouterr().err and not list(tmp_path.iterdir())
    assert cli.main(["compare", "--adastop", "--run", "ppo@CartPole-v1", "--out", str(tmp_path)]) == 2
    assert "is not NAME=ALGO@ENV" in capsys.readouterr().err
    assert cli.main(["compare", "--run", "a=ppo@CartPole-v1", "b=dqn@CartPole-v1", "--out", str(tmp_path)]) == 2
    assert "add --adastop" in capsys.readouterr().err


def test_a_corrupt_summary_is_named(runs, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(runs / "pair" / "fast", copy)
    (copy / "summary.json").write_text("{not json")
    assert cli.main(["compare", str(copy), str(runs / "pair" / "slow"), "--out", str(tmp_path)]) == 2
    assert "summary.json' is corrupt" in capsys.readouterr().err
    assert cli.main(["runs", str(copy)]) == 2
    assert "is corrupt" in capsys.readouterr().err
