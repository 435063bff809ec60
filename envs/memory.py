"""POPGym-style memory tasks (Morad et al., 2023): a card is dealt every step and the reward depends
on cards dealt earlier, so a policy that sees only the current observation cannot do better than
the chance level stated for each task, while a policy that remembers the episode gets 1.0.

| registered name    | the action must be                              | easy / medium / hard                       |
|--------------------|-------------------------------------------------|--------------------------------------------|
| `RepeatPrevious-*` | the suit shown `k` steps earlier                | k = 2 / 31 / 63; 16 / 103 / 155 steps       |
| `RepeatFirst-*`    | the suit of the episode's first card            | 16 / 415 / 831 steps                        |
| `CountRecall-*`    | how often the query's value has been dealt      | 4 / 4 / 13 values; 16 / 103 / 207 steps     |

Common to all three:

* Cards (suits, or values for CountRecall) are drawn independently and uniformly every step. POPGym
  deals from shuffled decks without replacement instead; with replacement, a past card is
  independent of everything observed since, which is what makes the chance levels exact.
* Observations are float32 vectors of one-hot codes in `[0, 1]`; actions are `Discrete`; rewards are
  `+1/n` for a correct and `-1/n` for a wrong answer on each of the `n` scored steps (0 on the others),
  so an optimal episode returns 1.0, as in POPGym.
* An episode terminates after `episode_length` steps (`state.time == episode_length`); the default
  params set `max_steps_in_episode` to the same number, so the last step is also truncated
  (terminated wins: no bootstrap). A smaller `max_steps_in_episode` cuts episodes short.
* Medium and hard have POPGym's sizes (episode length = cards in POPGym's decks - 1). Easy is
  smaller than POPGym's, as a quick check that a small recurrent agent learns at all: 16-step
  episodes and, for RepeatPrevious, a lag of 2 (how fast agents learn it is not measured here).
  POPGym's Easy is e.g. `make("RepeatPrevious-easy", k=3, episode_length=51)`.
* `memoryless_return()` is the best expected return of any policy that maps the current
  observation alone to an action (for the default params).

The constructor arguments set the sizes (they fix shapes); `make(name, k=..., ...)` passes them.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.envs import spaces
from jaxrl.envs.core import Environment, EnvParams, EnvState


class CardTask(Environment):
    """Shared parts of the three tasks: episode length, params, spaces and naming.

    Subclasses set `PRESETS` (difficulty -> constructor arguments), `num_actions`, `obs_dim` and
    `sizes` (the constructor arguments, for the name).
    """

    PRESETS: dict[str, dict[str, int]] = {}
    num_actions: int
    obs_dim: int

    def __init__(self, episode_length: int):
        if int(episode_length) < 2:
            raise ValueError(f"{type(self).__name__} needs episode_length >= 2, got {episode_length!r}.")
        self.episode_length = int(episode_length)

    @property
    def sizes(self) -> dict[str, int]:
        raise NotImplementedError

    @property
    def default_params(self) -> EnvParams:
        return EnvParams(max_steps_in_episode=self.episode_length)

    def observation_space(self, params: EnvParams | None = None) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (self.obs_dim,), jnp.float32)

    def action_space(self, params: EnvParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(self.num_actions)

    def memoryless_return(self) -> float:
        """Best expected episode return of a policy that sees only the current observation."""
        raise NotImplementedError

    @property
    def name(self) -> str:
        """`Task-difficulty` when the sizes are a preset's, else `Task(size=..., ...)`."""
        task = type(self).__name__
        for level, preset in self.PRESETS.items():
            if preset == self.sizes:
                return f"{task}-{level}"
        return repr(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in self.sizes.items())})"


def _score(scored: jax.Array | bool, correct: jax.Array, num_scored: int) -> jax.Array:
    """+1/num_scored if correct, -1/num_scored if wrong, 0 where not scored (float32 scalar)."""
    return jnp.where(scored, jnp.where(correct, 1.0, -1.0) / num_scored, 0.0).astype(jnp.float32)


def _deal(key: jax.Array, n: int, shape: tuple[int, ...] = ()) -> jax.Array:
    return jax.random.randint(key, shape, 0, n, dtype=jnp.int32)


def _one_hot(x: jax.Array, n: int) -> jax.Array:
    return jax.nn.one_hot(x, n, dtype=jnp.float32)


# ------------------------------------------------------------------------------ RepeatPrevious
@struct.dataclass
class RepeatPreviousState(EnvState):
    """`cards`: int32 `[k + 1]`, the suits shown, newest first (`cards[j]` was shown `j` steps ago;
    slots before the episode's first card hold 0)."""

    cards: jax.Array


class RepeatPrevious(CardTask):
    """Each step shows a random suit; the action must be the suit shown `k` steps earlier.

    Observation float32 `[num_suits + 1]`: the one-hot suit shown now, then a flag that is 1.0 when
    this step's action is scored (`state.time >= k`). Actions `Discrete(num_suits)`. The action at
    step t (0-based, taken on seeing card t) is scored from t = k on, against card t - k: each of the
    `episode_length - k` scored steps gives `+-1 / (episode_length - k)`.

    `k` counts steps back from the current card; POPGym's k is ours + 1 (its k = 1 repeats the
    card shown now). Presets: easy k=2, 16 steps; medium k=31, 103 steps; hard k=63, 155 steps
    (POPGym's medium and hard: 2 and 3 decks, its k = 32 and 64); 4 suits each.

    Memoryless bound: card t - k is independent of the observation at step t, so EVERY memoryless
    policy (the best, always-0 and uniform random alike) is right with probability 1/num_suits and
    has expected return `2 / num_suits - 1` (-0.5 with 4 suits).
    """

    PRESETS = {
        "easy": dict(num_suits=4, k=2, episode_length=16),
        "medium": dict(num_suits=4, k=31, episode_length=103),
        "hard": dict(num_suits=4, k=63, episode_length=155),
    }

    def __init__(self, num_suits: int = 4, k: int = 2, episode_length: int = 16):
        super().__init__(episode_length)
        if int(num_suits) < 2 or not 1 <= int(k) < self.episode_length:
            raise ValueError(
                f"RepeatPrevious needs num_suits >= 2 and 1 <= k < episode_length, got num_suits={num_suits!r}, "
                f"k={k!r}, episode_length={episode_length!r}."
            )
        self.num_suits, self.k = int(num_suits), int(k)
        self.num_actions, self.obs_dim = self.num_suits, self.num_suits + 1

    @property
    def sizes(self) -> dict[str, int]:
        return dict(num_suits=self.num_suits, k=self.k, episode_length=self.episode_length)

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, RepeatPreviousState]:
        cards = jnp.zeros((self.k + 1,), jnp.int32).at[0].set(_deal(key, self.num_suits))
        state = RepeatPreviousState(time=jnp.int32(0), cards=cards)
        return self._observation(state), state

    def step_env(self, key: jax.Array, state: RepeatPreviousState, action: Any, params: EnvParams):
        reward = _score(state.time >= self.k, action == state.cards[self.k], self.episode_length - self.k)
        cards = jnp.concatenate([_deal(key, self.num_suits, (1,)), state.cards[:-1]])
        state = RepeatPreviousState(time=state.time + 1, cards=cards)
        return self._observation(state), state, reward, state.time >= self.episode_length, {}

    def _observation(self, state: RepeatPreviousState) -> jax.Array:
        scored = (state.time >= self.k).astype(jnp.float32)
        return jnp.concatenate([_one_hot(state.cards[0], self.num_suits), scored[None]])

    def memoryless_return(self) -> float:
        return 2.0 / self.num_suits - 1.0


# ------------------------------------------------------------------------------ RepeatFirst
@struct.dataclass
class RepeatFirstState(EnvState):
    """`first`: the episode's first suit; `card`: the suit shown now (int32 scalars)."""

    first: jax.Array
    card: jax.Array


class RepeatFirst(CardTask):
    """Each step shows a random suit; the action must be the suit of the episode's first card.

    Observation float32 `[num_suits + 1]`: the one-hot suit shown now, then a flag that is 1.0 when
    this step's action is scored (every step but the first, `state.time >= 1`). Actions
    `Discrete(num_suits)`; each of the `episode_length - 1` scored steps gives
    `+-1 / (episode_length - 1)`. POPGym also scores the first step, whose answer is the card on
    screen; we do not, so that no step can be answered without memory.

    Presets (4 suits): easy 16 steps; medium 415 and hard 831 steps (POPGym's 8 and 16 decks).

    Memoryless bound: from step 1 on the first card is independent of the observation, so every
    memoryless policy has expected return `2 / num_suits - 1` (-0.5 with 4 suits).
    """

    PRESETS = {
        "easy": dict(num_suits=4, episode_length=16),
        "medium": dict(num_suits=4, episode_length=415),
        "hard": dict(num_suits=4, episode_length=831),
    }

    def __init__(self, num_suits: int = 4, episode_length: int = 16):
        super().__init__(episode_length)
        if int(num_suits) < 2:
            raise ValueError(f"RepeatFirst needs num_suits >= 2, got {num_suits!r}.")
        self.num_suits = int(num_suits)
        self.num_actions, self.obs_dim = self.num_suits, self.num_suits + 1

    @property
    def sizes(self) -> dict[str, int]:
        return dict(num_suits=self.num_suits, episode_length=self.episode_length)

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, RepeatFirstState]:
        card = _deal(key, self.num_suits)
        state = RepeatFirstState(time=jnp.int32(0), first=card, card=card)
        return self._observation(state), state

    def step_env(self, key: jax.Array, state: RepeatFirstState, action: Any, params: EnvParams):
        reward = _score(state.time >= 1, action == state.first, self.episode_length - 1)
        state = state.replace(time=state.time + 1, card=_deal(key, self.num_suits))
        return self._observation(state), state, reward, state.time >= self.episode_length, {}

    def _observation(self, state: RepeatFirstState) -> jax.Array:
        scored = (state.time >= 1).astype(jnp.float32)
        return jnp.concatenate([_one_hot(state.card, self.num_suits), scored[None]])

    def memoryless_return(self) -> float:
        return 2.0 / self.num_suits - 1.0


# ------------------------------------------------------------------------------ CountRecall
@struct.dataclass
class CountRecallState(EnvState):
    """`value`, `query`: the cards shown now (int32 scalars); `counts`: int32 `[num_values]`, how
    often each value has been dealt this episode, the current one included."""

    value: jax.Array
    query: jax.Array
    counts: jax.Array


class CountRecall(CardTask):
    """Each step deals a value card and a query card; the action must be how many times the query's
    value has been dealt so far (the current value card included), clipped to `num_actions - 1`.

    Observation float32 `[2 * num_values]`: the one-hot dealt value, then the one-hot query value.
    Actions `Discrete(num_actions)`: counts 0 .. num_actions - 1, the last meaning "that many or
    more". Every step is scored, `+-1 / episode_length`.

    Presets: easy 4 values, 8 actions, 16 steps; medium 4 values (suits), 26 actions, 103 steps;
    hard 13 values (ranks), 16 actions, 207 steps (POPGym's medium and hard sizes: 2 and 4 decks).
    POPGym's easy counts 2 colours over 51 steps with 26 actions. Drawn with replacement, counts can
    exceed POPGym's action range, hence the clipping; the late steps of medium and hard are often
    clipped, which is what raises their memoryless bound.

    Memoryless bound: at step t the count is `1[value == query] + Binomial(t, 1 / num_values)`, the
    binomial part independent of the observation; the best memoryless policy answers, for a match and
    for a mismatch, the (clipped) count most frequent over the episode's steps. Its expected return
    (`memoryless_return()`): easy -0.505, medium -0.822, hard -0.741. Uniform random:
    `2 / num_actions - 1` (-0.75, -0.923, -0.875). Always 0: easy -0.629, medium -0.942, hard -0.884.
    """

    PRESETS = {
        "easy": dict(num_values=4, num_actions=8, episode_length=16),
        "medium": dict(num_values=4, num_actions=26, episode_length=103),
        "hard": dict(num_values=13, num_actions=16, episode_length=207),
    }

    def __init__(self, num_values: int = 4, num_actions: int = 8, episode_length: int = 16):
        super().__init__(episode_length)
        if int(num_values) < 2 or int(num_actions) < 2:
            raise ValueError(
                f"CountRecall needs num_values >= 2 and num_actions >= 2, got {num_values!r}, {num_actions!r}."
            )
        self.num_values, self.num_actions = int(num_values), int(num_actions)
        self.obs_dim = 2 * self.num_values

    @property
    def sizes(self) -> dict[str, int]:
        return dict(num_values=self.num_values, num_actions=self.num_actions, episode_length=self.episode_length)

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, CountRecallState]:
        return self._deal_cards(key, jnp.zeros((self.num_values,), jnp.int32), jnp.int32(0))

    def step_env(self, key: jax.Array, state: CountRecallState, action: Any, params: EnvParams):
        target = jnp.minimum(state.counts[state.query], self.num_actions - 1)
        reward = _score(True, action == target, self.episode_length)
        obs, state = self._deal_cards(key, state.counts, state.time + 1)
        return obs, state, reward, state.time >= self.episode_length, {}

    def _deal_cards(self, key: jax.Array, counts: jax.Array, time: jax.Array) -> tuple[jax.Array, CountRecallState]:
        value, query = _deal(key, self.num_values, (2,))
        counts = counts + jax.nn.one_hot(value, self.num_values, dtype=jnp.int32)
        state = CountRecallState(time=time, value=value, query=query, counts=counts)
        obs = jnp.concatenate([_one_hot(value, self.num_values), _one_hot(query, self.num_values)])
        return obs, state

    def memoryless_return(self) -> float:
        p = 1.0 / self.num_values
        hits = np.zeros((2, self.num_actions))  # [match, answer]: expected number of steps it is right
        earlier = np.ones(1)  # distribution of the count among the t earlier values, Binomial(t, p)
        for _ in range(self.episode_length):
            for match in (0, 1):
                clipped = np.minimum(np.arange(earlier.size) + match, self.num_actions - 1)
                np.add.at(hits[match], clipped, earlier)
            earlier = np.convolve(earlier, [1.0 - p, p])
        best = (1.0 - p) * hits[0].max() + p * hits[1].max()
        return float(2.0 * best / self.episode_length - 1.0)


# ------------------------------------------------------------------------------ registered presets
# envs/registry.py registers "<Task>-<difficulty>" as these factories; keywords override the sizes.
repeat_previous_easy = functools.partial(RepeatPrevious, **RepeatPrevious.PRESETS["easy"])
repeat_previous_medium = functools.partial(RepeatPrevious, **RepeatPrevious.PRESETS["medium"])
repeat_previous_hard = functools.partial(RepeatPrevious, **RepeatPrevious.PRESETS["hard"])
repeat_first_easy = functools.partial(RepeatFirst, **RepeatFirst.PRESETS["easy"])
repeat_first_medium = functools.partial(RepeatFirst, **RepeatFirst.PRESETS["medium"])
repeat_first_hard = functools.partial(RepeatFirst, **RepeatFirst.PRESETS["hard"])
count_recall_easy = functools.partial(CountRecall, **CountRecall.PRESETS["easy"])
count_recall_medium = functools.partial(CountRecall, **CountRecall.PRESETS["medium"])
count_recall_hard = functools.partial(CountRecall, **CountRecall.PRESETS["hard"])
