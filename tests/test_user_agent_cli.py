"""The CLI trains an agent that is not built in, named by its import path `package.module:SPEC`;
the run's config.json keeps that path, so eval and resume find the agent again."""

from __future__ import annotations

import json
import textwrap

import pytest

from jaxrl import cli

MODULE = textwrap.dedent('''
    import dataclasses
    from jaxrl.agents.ppo import SPEC as PPO

    MYPPO = dataclasses.replace(PPO, name="myppo")  # an AgentSpec of the user's own
    NOT_A_SPEC = 3
''')
SMALL = ["--set", "num_envs=8", "num_steps=16", "update_epochs=1", "num_minibatches=2", "num_logs=2",
         "eval_episodes=4"]


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "user_agents_for_cli.py").write_text(MODULE)
    monkeypatch.chdir(tmp_path)  # the jaxrl command adds the current directory to sys.path
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_train_eval_and_resume_an_agent_named_by_import_path(user_module, capsys):
    args = ["train", "user_agents_for_cli:MYPPO", "--env", "CartPole-v1", "--total-timesteps", "512",
            "--no-progress", "--out", str(user_module), "--name", "run", *SMALL]
    assert cli.main(args) == 0
    run = user_module / "run"
    assert json.loads((run / "config.json").read_text())["algo"] == "user_agents_for_cli:MYPPO"
    capsys.readouterr()
    assert cli.main(["eval", str(run), "--episodes", "2"]) == 0
    assert "user_agents_for_cli:MYPPO on CartPole-v1" in capsys.readouterr().out
    assert cli.main(["train", "--resume", str(run), "--no-progress"]) == 0


@pytest.mark.parametrize("algo, message", [
    ("user_agents_for_cli:NOT_A_SPEC", "names an object of type int in user_agents_for_cli, not a jaxrl.agents.AgentSpec. Its AgentSpecs: PPO, MYPPO."),
    ("user_agents_for_cli:MISSING", "names no attribute of that name"),
    ("no_such_module_here:SPEC", "Cannot import module 'no_such_module_here'"),
    ("ppx", "Unknown algorithm 'ppx'"),
])
def test_a_bad_agent_path_is_one_paragraph_and_exit_2(user_module, capsys, algo, message):
    assert cli.main(["train", algo, "--env", "CartPole-v1", "--out", str(user_module), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not any(p.is_dir() for p in user_module.iterdir())  # nothing written
