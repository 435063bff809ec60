"""Observation encoders, chosen by the observation space.

The rule (`encoder="auto"`, `choose_encoder`):

* a `Box` of rank 0-2 (a vector, or a small matrix): flattened into the agent's MLP as it is (no
  encoder module; the networks read exactly what they read before encoders existed);
* a `Box` of rank 3, an image `[H, W, C]`: a CNN torso (`cnn`: `"nature"`, `"impala"` or `"minatar"`,
  see `CNN_TORSOS`), whose features feed the MLP. Images whose bound exceeds 1 (uint8 pixels,
  symbolic grids of object ids) are divided by their largest absolute bound first;
* a `Dict` or `Tuple` of such spaces: each entry is encoded by its own rule (vectors flattened,
  images by their own CNN, `Discrete` entries one-hot), and the features are concatenated in the
  order of the entries (a dict's keys sorted). A dict entry named `avail_actions`
  (`envs.multi.AVAIL_ACTIONS`) is an action mask, not an input: the agents mask their actions with it.

`encoder="flatten"` flattens every observation (images included) into the MLP instead. Any other
space (rank >= 4, nested composites) raises a ValueError naming it.

Shapes: observations `[..., *obs_shape]` (any leading axes); features `[..., d]` float32.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.envs import spaces
from jaxrl.envs.multi import AVAIL_ACTIONS

ENCODERS = ("auto", "flatten")

# name -> (description, smallest image side it accepts)
CNN_TORSOS = {
    "nature": ("Mnih et al. 2015: conv 32x8x8/4, 64x4x4/2, 64x3x3/1 (valid), dense 512", 36),
    "impala": ("Espeholt et al. 2018: 3 stages (16, 32, 32) of conv 3x3, max-pool 3x3/2 and two "
               "residual blocks, dense 256", 1),
    "minatar": ("Young & Tian 2019 (MinAtar): conv 16x3x3/1 (valid), dense 128", 3),
}


@dataclasses.dataclass(frozen=True)
class Entry:
    """One input of an encoder: `key` in the observation (None: the observation itself), its `kind`
    ("vector", "image" or "onehot"), `shape` (the element shape; `(n,)` for one-hot) and `scale`."""

    key: str | int | None
    kind: str
    shape: tuple[int, ...]
    scale: float = 1.0


@dataclasses.dataclass(frozen=True)
class EncoderSpec:
    """Static description of an encoder (hashable: a field of flax modules)."""

    entries: tuple[Entry, ...]
    cnn: str = "impala"


def _conv(features: int, kernel: int, stride: int = 1, padding: str = "VALID") -> nn.Conv:
    return nn.Conv(features, (kernel, kernel), (stride, stride), padding=padding,
                   kernel_init=nn.initializers.orthogonal(np.sqrt(2.0)), bias_init=nn.initializers.zeros)


def _dense(features: int) -> nn.Dense:
    return nn.Dense(features, kernel_init=nn.initializers.orthogonal(np.sqrt(2.0)),
                    bias_init=nn.initializers.zeros)


class CNN(nn.Module):
    """A CNN torso of `CNN_TORSOS`: images `[..., H, W, C]` -> features `[..., d]` (ReLU)."""

    torso: str = "impala"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        chex.assert_rank(x, {3, 4, 5, 6})
        lead = x.shape[:-3]
        x = x.reshape(-1, *x.shape[-3:])
        if self.torso == "nature":
            for features, kernel, stride in ((32, 8, 4), (64, 4, 2), (64, 3, 1)):
                x = nn.relu(_conv(features, kernel, stride)(x))
            size = 512
        elif self.torso == "impala":
            for features in (16, 32, 32):
                x = _conv(features, 3, padding="SAME")(x)
                x = nn.max_pool(x, (3, 3), (2, 2), padding="SAME")
                for _ in range(2):
                    y = _conv(features, 3, padding="SAME")(nn.relu(x))
                    x = x + _conv(features, 3, padding="SAME")(nn.relu(y))
            x = nn.relu(x)
            size = 256
        else:
            x = nn.relu(_conv(16, 3)(x))
            size = 128
        x = nn.relu(_dense(size)(x.reshape(x.shape[0], -1)))
        return x.reshape(*lead, size)


class Encoder(nn.Module):
    """Observations (an array or a dict/tuple, `[..., *shape]` each) -> features `[..., d]`."""

    spec: EncoderSpec

    @nn.compact
    def __call__(self, obs: Any) -> jax.Array:
        parts = []
        for entry in self.spec.entries:
            x = obs if entry.key is None else obs[entry.key]
            if entry.kind == "onehot":
                parts.append(jax.nn.one_hot(x, entry.shape[0], dtype=jnp.float32))
                continue
            x = jnp.asarray(x, jnp.float32)
            chex.assert_equal(x.shape[x.ndim - len(entry.shape):], entry.shape)
            if entry.kind == "image":
                name = "cnn" if entry.key is None else f"cnn_{entry.key}"
                parts.append(CNN(self.spec.cnn, name=name)(x / entry.scale))
            else:
                parts.append(x.reshape(*x.shape[: x.ndim - len(entry.shape)], -1))
        return parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=-1)


def encode(spec: EncoderSpec | None, obs: Any) -> Any:
    """Inside a compact module: `obs` through an `Encoder` named "encoder", or as it is when `spec`
    is None (flat observations; no parameters are created, so those networks keep their layout)."""
    return obs if spec is None else Encoder(spec, name="encoder")(obs)


def choose_encoder(space: spaces.Space, encoder: str = "auto", cnn: str = "impala") -> EncoderSpec | None:
    """The encoder of observations of `space` by the module docstring's rule; None: flatten them
    into the MLP (rank 0-2 boxes, or any box with `encoder="flatten"`). ValueError for spaces no
    encoder handles."""
    if encoder not in ENCODERS or cnn not in CNN_TORSOS:
        raise ValueError(f"encoder must be one of {ENCODERS} and cnn one of {tuple(CNN_TORSOS)}, got "
                         f"encoder={encoder!r}, cnn={cnn!r}.")
    if isinstance(space, spaces.Box) and (len(space.shape) <= 2 or encoder == "flatten"):
        return None
    if isinstance(space, spaces.Dict):
        items = [(k, space.spaces[k]) for k in sorted(space.spaces) if k != AVAIL_ACTIONS]
    elif isinstance(space, spaces.Tuple):
        items = list(enumerate(space.spaces))
    else:
        items = [(None, space)]
    if not items:
        raise ValueError(f"The observation space {space!r} has no entry to encode besides the action mask.")
    return EncoderSpec(tuple(_entry(key, s, encoder, cnn, space) for key, s in items), cnn)


def _entry(key: Any, space: spaces.Space, encoder: str, cnn: str, whole: spaces.Space) -> Entry:
    where = "the observation" if key is None else f"entry {key!r} of the observation"
    if isinstance(space, spaces.Discrete):
        return Entry(key, "onehot", (space.n,))
    if isinstance(space, spaces.Box):
        shape = tuple(space.shape)
        if len(shape) <= 2 or encoder == "flatten":
            return Entry(key, "vector", shape)
        if len(shape) == 3:
            smallest = CNN_TORSOS[cnn][1]
            if min(shape[:2]) < smallest:
                raise ValueError(
                    f"cnn={cnn!r} needs images of at least {smallest}x{smallest}, but {where} is "
                    f"{shape[0]}x{shape[1]} (shape {shape}); set cnn to one of "
                    f"{[n for n, (_, s) in CNN_TORSOS.items() if s <= min(shape[:2])]}, or encoder='flatten'."
                )
            bound = float(np.max(np.abs(np.concatenate([space.low.ravel(), space.high.ravel()]))))
            scale = bound if np.isfinite(bound) and bound > 1.0 else 1.0
            return Entry(key, "image", shape, scale)
    raise ValueError(
        f"No observation encoder handles {where}: {space!r} (in {whole!r}). Encoders take Box vectors "
        "and matrices (rank 0-2, flattened into the MLP), images [H, W, C] (rank 3, a CNN), Discrete "
        "entries (one-hot), and Dict/Tuple observations of those (each entry encoded, then "
        "concatenated). Wrap the env to reshape its observations (jaxrl.envs.wrappers)."
    )


def encoder_input(space: spaces.Space, spec: EncoderSpec | None):
    """`(prepare, dummy)`: `prepare(obs [..., *shape]) -> network input` (flat float32 `[..., d]`
    when `spec` is None, else the observation itself) and `dummy()`, a batch-1 input for `init`."""
    if spec is None:
        ndim = len(space.shape)
        flat = int(np.prod(space.shape))
        return (lambda obs: obs.reshape(*obs.shape[: obs.ndim - ndim], -1).astype(jnp.float32),
                lambda: jnp.zeros((1, flat), jnp.float32))
    return (lambda obs: obs), (lambda: jax.tree.map(lambda x: x[None], zeros_of(space)))


def zeros_of(space: spaces.Space) -> Any:
    """One element of `space` filled with zeros, in its dtypes (a dict/tuple for composites)."""
    if isinstance(space, spaces.Dict):
        return {k: zeros_of(s) for k, s in space.spaces.items()}
    if isinstance(space, spaces.Tuple):
        return tuple(zeros_of(s) for s in space.spaces)
    return jnp.zeros(space.shape, space.dtype)
