"""`jaxrl plot`: curves from metrics.csv alone, any column; clear errors for bad input."""

import numpy as np
import pytest

import jaxrl
from jaxrl import cli
from jaxrl.plots import curve, plot_runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    config = {"num_envs": 4, "num_steps": 32, "num_logs": 4, "eval_episodes": 2}
    for name, lr in (("a", 1e-3), ("b", 3e-4)):
        jaxrl.train("ppo", "CartPole-v1", seeds=2, total_timesteps=1024, config={**config, "learning_rate": lr},
                    out=out, name=name, progress=False)
    return out


def test_curve_is_the_mean_and_range_over_seeds():
    rows = [{"step": 10, "seed": 0, "x": 1.0}, {"step": 10, "seed": 1, "x": 3.0}, {"step": 20, "seed": 0, "x": 5.0},
            {"step": 20, "seed": 1, "x": float("nan")}]
    steps, mean, low, high = curve(rows, "x")
    np.testing.assert_array_equal(steps, [10, 20])
    np.testing.assert_array_equal(mean, [2.0, 5.0])
    np.testing.assert_array_equal(low, [1.0, 5.0])
    np.testing.assert_array_equal(high, [3.0, 5.0])


def test_plot_writes_any_metric_for_several_runs(runs, tmp_path, capsys):
    path = plot_runs([runs / "a", runs / "b"], "entropy", tmp_path / "entropy.png")
    assert path.stat().st_size > 5_000
    assert cli.main(["plot", str(runs / "a"), "--metric", "value_loss"]) == 0
    assert (runs / "a" / "value_loss.png").exists() and "value_loss.png" in capsys.readouterr().out


def test_bad_input_is_one_paragraph_and_exit_2(runs, tmp_path, capsys):
    assert cli.main(["plot", str(runs / "a"), "--metric", "entrpy"]) == 2
    assert "No metric column 'entrpy'" in capsys.readouterr().err
    assert cli.main(["plot", str(tmp_path)]) == 2
    assert "has no metrics.csv" in capsys.readouterr().err


def test_writing_plots_leaves_the_users_matplotlib_alone(tmp_path):
    """Training, sweeps, compare and plot write their PNGs without switching the user's backend or
    adding figures to pyplot (a notebook's inline figures kept disappearing after jaxrl.train)."""
    import subprocess
    import sys

    code = f"""
import matplotlib
matplotlib.use("svg")          # stands in for a notebook's inline backend
import matplotlib.pyplot as plt
import jaxrl
from jaxrl import compare
from jaxrl.plots import plot_runs
r = jaxrl.train("ppo", "CartPole-v1", seeds=2, total_timesteps=512, out={str(tmp_path)!r}, name="run",
                config={{"num_envs": 4, "num_steps": 32, "num_minibatches": 2}}, progress=False)
plot_runs([r.run_dir])
two = compare.scores_from_runs([], labels={{"a": [r.run_dir], "b": [r.run_dir]}})
compare.plot(compare.compare(two, reps=50), r.run_dir / "c.png", reps=50)
assert matplotlib.get_backend().lower() == "svg", matplotlib.get_backend()
assert plt.get_fignums() == [], plt.get_fignums()
print("OK")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "OK" in done.stdout, done.stderr[-2000:]
