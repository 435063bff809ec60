"""check_env passes on the built-in envs and fails, with a message naming the problem, on broken ones."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
from jaxrl.envs import spaces
from jaxrl.envs.cartpole import CartPole
from jaxrl.envs.check import EnvCheckError, EnvCheckReport, check_env
from jaxrl.envs.probes import PROBES, ConstantReward, TwoStepCredit
from jaxrl.envs.wrappers import Wrapper

SMALL = dict(num_envs=16, num_steps=24)


def make_env(name: str):
    return jaxrl.make(name)


def test_builtins_include_cartpole_and_probes() -> None:
    assert {"CartPole-v1", *PROBES} <= set(jaxrl.envs.registered_names())


@pytest.mark.parametrize("name", jaxrl.envs.registered_names())
def test_check_env_passes_on_builtins(name: str) -> None:
    env, params = make_env(name)
    report = check_env(env, params, **SMALL)
    assert isinstance(report, EnvCheckReport)
    # A wrapped built-in (the -po envs) overrides step, so check_env skips the reset-key comparison;
    # tests/test_env_contract.py and tests/test_memory_envs.py check their auto-reset directly.
    wrapped = isinstance(env, Wrapper)
    for check in ("jit", "vmap", "determinism", "dtypes_x64", "truncation", "final_observation"):
        assert check in report.passed
    assert ("auto_reset" in report.passed) != wrapped
    assert set(report.skipped) == ({"auto_reset"} if wrapped else set())
    assert name in str(report)


def test_check_env_is_exported() -> None:
    assert jaxrl.check_env is check_env
    assert jaxrl.envs.EnvCheckError is EnvCheckError
    assert issubclass(EnvCheckError, AssertionError)


# ------------------------------------------------------------------------------ broken environments
class NondeterministicReset(ConstantReward):
    """Reads numpy's global RNG: jit would freeze one draw into the program."""

    def reset_env(self, key, params):
        obs, state = super().reset_env(key, params)
        noise = np.float32(np.random.uniform(-0.5, 0.5))
        return obs + noise, state.replace(obs=state.obs + noise)


class StatefulStep(ConstantReward):
    """Counts calls in a Python attribute: the reward depends on how often step was traced."""

    calls = 0

    def step_env(self, key, state, action, params):
        self.calls += 1
        obs, state, reward, terminated, info = super().step_env(key, state, action, params)
        return obs, state, reward * self.calls, terminated, info


class IntObservationStep(TwoStepCredit):
    """step returns int32 observations while reset returns float32."""

    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, info = super().step_env(key, state, action, params)
        return obs.astype(jnp.int32), state, reward, terminated, info


class X64DtypeDrift(ConstantReward):
    """Builds its observation from a Python float list: float64 once jax_enable_x64 is on."""

    def reset_env(self, key, params):
        obs, state = super().reset_env(key, params)
        return jnp.array([0.0]), state


class ForgetsTime(TwoStepCredit):
    """Never increments state.time (so it also never terminates or truncates)."""

    def step_env(self, key, state, action, params):
        obs, new_state, reward, terminated, info = super().step_env(key, state, action, params)
        return obs, new_state.replace(time=state.time), reward, terminated, info


class ObsOutsideSpace(ConstantReward):
    """Declares a box that excludes the observation it produces (0)."""

    def observation_space(self, params=None):
        return spaces.Box(0.5, 1.0, (1,), jnp.float32)


class PythonBranch(CartPole):
    """Python `if` on a traced value: fails under jit."""

    def step_env(self, key, state, action, params):
        if state.x > 0:
            action = 1 - action
        return super().step_env(key, state, action, params)


class NoAutoReset(TwoStepCredit):
    """Overrides step without auto-reset: the finished episode's state carries on."""

    def step(self, key, state, action, params=None):
        params = self.default_params if params is None else params
        obs, state, reward, terminated, info = self.step_env(key, state, action, params)
        truncated = self.is_truncated(state, params)
        return obs, state, reward, terminated, truncated, {**info, "final_observation": obs}


class NeverTruncates(TwoStepCredit):
    def is_truncated(self, state, params):
        return jnp.asarray(False)


class WrongFinalObservation(TwoStepCredit):
    """Puts something other than the last observation in final_observation."""

    def step(self, key, state, action, params=None):
        obs, state, reward, terminated, truncated, info = super().step(key, state, action, params)
        return obs, state, reward, terminated, truncated, {**info, "final_observation": obs * 0.5}


class NaNFinalObservation(ConstantReward):
    """Every step ends the episode with a NaN observation (the returned one is the finite reset obs)."""

    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, info = super().step_env(key, state, action, params)
        return obs * jnp.nan, state, reward, terminated, info


class NaNReset(ConstantReward):
    def reset_env(self, key, params):
        obs, state = super().reset_env(key, params)
        return obs / 0.0, state


class NaNReward(TwoStepCredit):
    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, info = super().step_env(key, state, action, params)
        return obs, state, jnp.where(state.time > 1, jnp.nan, reward), terminated, info


class WrongObservationShape(ConstantReward):
    def reset_env(self, key, params):
        obs, state = super().reset_env(key, params)
        return jnp.zeros((2,), jnp.float32), state


class BreaksUnderVmap(ConstantReward):
    """A host callback without a vmap rule: traces and jits one copy, fails for a batch."""

    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, info = super().step_env(key, state, action, params)
        reward = jax.pure_callback(lambda r: np.asarray(r, np.float32), jax.ShapeDtypeStruct((), jnp.float32),
                                   reward + obs[0])  # batched under vmap
        return obs, state, reward, terminated, info


class IntRewardStep(TwoStepCredit):
    """A wrapper-style step (no base-class cast) that returns an int32 reward."""

    def step(self, key, state, action, params=None):
        obs, state, reward, terminated, truncated, info = super().step(key, state, action, params)
        return obs, state, reward.astype(jnp.int32), terminated, truncated, info


class Float64RewardStep(TwoStepCredit):
    """Returns a float64 reward once jax_enable_x64 is on (float32 otherwise)."""

    def step(self, key, state, action, params=None):
        obs, state, reward, terminated, truncated, info = super().step(key, state, action, params)
        return obs, state, reward.astype(jnp.float64), terminated, truncated, info


class VectorReward(ConstantReward):
    """A [1]-shaped reward instead of a scalar (the base class keeps its shape)."""

    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, info = super().step_env(key, state, action, params)
        return obs, state, jnp.reshape(reward, (1,)), terminated, info


class IntFlagsStep(TwoStepCredit):
    def step(self, key, state, action, params=None):
        obs, state, reward, terminated, truncated, info = super().step(key, state, action, params)
        return obs, state, reward, terminated.astype(jnp.int32), truncated, info


class Float64Observation(TwoStepCredit):
    """float64 observations from reset and step once jax_enable_x64 is on; the space says float32."""

    def reset_env(self, key, params):
        obs, state = super().reset_env(key, params)
        return obs.astype(jnp.float64), state

    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, info = super().step_env(key, state, action, params)
        return obs.astype(jnp.float64), state, reward, terminated, info


@pytest.mark.filterwarnings("ignore:Explicitly requested dtype float64")  # astype(float64) with x64 off
@pytest.mark.parametrize(
    "env_cls, match",
    [
        (NaNFinalObservation, r"step returns a NaN/inf info\['final_observation'\] \(step 0, copy 0\); observations "
                              r"must be finite"),
        (NaNReset, r"reset returns a NaN/inf observation \(copy 0\); observations must be finite"),
        (NaNReward, r"step returns the reward nan \(step 1, copy 0\); rewards must be finite float32"),
        (WrongObservationShape, r"the reset observation does not match observation_space: obs is float32\[2\], "
                                r"the space says float32\[1\]"),
        (BreaksUnderVmap, r"reset/step fail when jitted and vmapped over 16 copies \(NotImplementedError: vmap is "
                          r"only supported for the pure_callback"),
        (NondeterministicReset, r"reset traces to a different program .* Python-side randomness"),
        (StatefulStep, r"step traces to a different program .* Python-side randomness or state"),
        (IntObservationStep, r"reset and step disagree on the dtype of the value: float32 after reset, int32 after step"),
        (X64DtypeDrift, r"reset and step disagree on the dtype of the value: float64 after reset, float32 after step"),
        (ForgetsTime, r"state\.time is 0 after 1 steps .* must increment state\.time"),
        (ObsOutsideSpace, r"reset returns an observation outside observation_space"),
        (PythonBranch, r"step cannot be traced by jax\.jit \(TracerBoolConversionError"),
        (NoAutoReset, r"state\.time is 2, not 0, right after an episode end"),
        (NeverTruncates, r"truncated is False after 1 steps with max_steps_in_episode=1"),
        (WrongFinalObservation, r"final_observation'\] differs from the returned observation"),
        (IntRewardStep, r"reward must be a float32 scalar, got int32\[\]\.$"),
        (Float64RewardStep, r"reward must be a float32 scalar, got float64\[\] with jax_enable_x64 on\.$"),
        (VectorReward, r"reward must be a float32 scalar, got float32\[1\]\.$"),
        (IntFlagsStep, r"terminated must be a bool scalar, got int32\[\]\.$"),
        (Float64Observation, r"the reset observation does not match observation_space with jax_enable_x64 on: obs is "
                             r"float64\[1\], the space says float32\[1\]\.$"),
    ],
)
def test_check_env_fails_clearly_on_broken_envs(env_cls: type, match: str) -> None:
    env = env_cls()
    with pytest.raises(EnvCheckError, match=match) as info:
        check_env(env, **SMALL)
    message = str(info.value)
    assert message.startswith(f"{env.name}: ")
    assert "\n" not in message  # one sentence, one line


def test_check_env_reports_skips_for_wrappers() -> None:
    from jaxrl.envs.wrappers import EpisodeStatistics, NormalizeObservation

    env = EpisodeStatistics(NormalizeObservation(TwoStepCredit()))
    report = check_env(env, **SMALL)
    assert "truncation" in report.passed and "time" in report.passed
    assert "auto_reset" in report.skipped and "overrides step" in report.skipped["auto_reset"]


class LooseStepEnvDtypes(TwoStepCredit):
    """step_env returns an int32 reward and int32 terminated flags."""

    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, info = super().step_env(key, state, action, params)
        return obs, state, reward.astype(jnp.int32), terminated.astype(jnp.int32), info


def test_base_step_casts_what_step_env_returns_to_the_contract():
    """`Environment.step` casts step_env's reward to float32 and its flags to bool (any x64 setting), so
    such an env meets the contract and passes; check_env judges what `step` returns."""
    env = LooseStepEnvDtypes()
    check_env(env, **SMALL)
    obs, state = env.reset(jax.random.key(0))
    _, _, reward, terminated, truncated, _ = env.step(jax.random.key(1), state, jnp.int32(0))
    assert (reward.dtype, terminated.dtype, truncated.dtype) == (jnp.float32, jnp.bool_, jnp.bool_)


# ------------------------------------------------------------------------------ multi-agent envs
from jaxrl.envs.mpe import LISTENER, SPEAKER, SimpleSpeakerListener  # noqa: E402
from jaxrl.envs.multi import MultiAgentEnv, TeamView  # noqa: E402


class ListenerVectorReward(SimpleSpeakerListener):
    def step_env(self, key, state, actions, params):
        obs, state, rewards, terminated, info = super().step_env(key, state, actions, params)
        return obs, state, {**rewards, LISTENER: rewards[LISTENER][None]}, terminated, info


class NoListenerObservationSpace(SimpleSpeakerListener):
    def observation_spaces(self, params):
        return {SPEAKER: super().observation_spaces(params)[SPEAKER]}


class ShortListenerObservation(SimpleSpeakerListener):
    def observations(self, state):
        obs = super().observations(state)
        return {**obs, LISTENER: obs[LISTENER][:10]}


class FillsMissingActions(SimpleSpeakerListener):
    """Overrides step and quietly acts 0 for an agent missing from the actions dict."""

    def step(self, key, state, actions, params=None):
        return super().step(key, state, {a: actions.get(a, jnp.int32(0)) for a in self.agents}, params)


class IntMasks(SimpleSpeakerListener):
    def avail_actions(self, state, params):
        return {a: m.astype(jnp.int32) for a, m in super().avail_actions(state, params).items()}


class FlatFinalObservation(SimpleSpeakerListener):
    def step(self, key, state, actions, params=None):
        obs, state, rewards, terminated, truncated, info = super().step(key, state, actions, params)
        final = jnp.concatenate([info["final_observation"][a] for a in self.agents])
        return obs, state, rewards, terminated, truncated, {**info, "final_observation": final}


class IntGlobalState(SimpleSpeakerListener):
    def global_state(self, state, params):
        return state.agent_pos.astype(jnp.int32)


@pytest.mark.parametrize(
    "env_cls, match",
    [
        (ListenerVectorReward, r"rewards\['listener_0'\] must be a float32 scalar, got float32\[1\]\.$"),
        (NoListenerObservationSpace, r"observation_spaces\(params\) must be a dict with a space for each agent of "
                                     r"\['speaker_0', 'listener_0'\], got \['speaker_0'\]\.$"),
        (ShortListenerObservation, r"the reset observation does not match observation_space: obs\['listener_0'\] is "
                                   r"float32\[10\], the space says float32\[11\]\.$"),
        (FillsMissingActions, r"step accepts an actions dict without agent 'listener_0'; it must raise"),
        (IntMasks, r"avail_actions\['listener_0'\] must be bool\[5\], got int32\[5\]\.$"),
        (FlatFinalObservation, r"info\['final_observation'\] must be a dict of each agent's observation, got "
                               r"float32\[14\]\.$"),
        (IntGlobalState, r"global_state must be None or a float32 vector, got int32\[2, 2\]\.$"),
    ],
)
def test_check_env_names_the_agent_on_broken_multi_agent_envs(env_cls: type, match: str) -> None:
    env = env_cls()
    with pytest.raises(EnvCheckError, match=match) as info:
        check_env(env, **SMALL)
    assert str(info.value).startswith(f"{env.name}: ") and "\n" not in str(info.value)


def test_check_env_takes_a_name_a_multi_agent_env_or_its_team_view() -> None:
    by_name = check_env("MPE_simple_speaker_listener_v4", **SMALL)
    by_view = check_env(TeamView(SimpleSpeakerListener()), **SMALL)
    assert by_name.passed == by_view.passed and by_name.passed[0] == "agents" and not by_name.skipped
    assert "auto_reset" in by_name.passed and "truncation" in by_name.passed


def test_multi_agent_step_names_a_missing_agent() -> None:
    env = SimpleSpeakerListener()
    _, state = env.reset(jax.random.key(0))
    with pytest.raises(ValueError, match=r"actions has no entry for agent\(s\) \['listener_0'\]"):
        env.step(jax.random.key(1), state, {SPEAKER: jnp.int32(0)})
    assert issubclass(SimpleSpeakerListener, MultiAgentEnv)
