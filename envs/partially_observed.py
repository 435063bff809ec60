"""Partially observable classic control: the built-in envs with their velocities masked out.

Each is the full env under `wrappers.MaskObservation` (same dynamics, rewards, params and keys;
only the observation and its space shrink), as POPGym's "stateless" tasks. A policy must infer the
velocities from successive observations, so it needs memory (or frame stacking).

| registered name     | observation                                  | indices kept of the full env's |
|---------------------|----------------------------------------------|--------------------------------|
| `CartPole-v1-po`    | `[x, theta]`                                 | 0, 2                           |
| `Pendulum-v1-po`    | `[cos(theta), sin(theta)]`                   | 0, 1                           |
| `MountainCar-v0-po` | `[position]`                                 | 0                              |
| `Acrobot-v1-po`     | `[cos(th1), sin(th1), cos(th2), sin(th2)]`   | 0, 1, 2, 3                     |
"""

from __future__ import annotations

from jaxrl.envs.acrobot import Acrobot
from jaxrl.envs.cartpole import CartPole
from jaxrl.envs.mountain_car import MountainCar
from jaxrl.envs.pendulum import Pendulum
from jaxrl.envs.wrappers import MaskObservation


def cartpole_po() -> MaskObservation:
    return MaskObservation(CartPole(), (0, 2))


def pendulum_po() -> MaskObservation:
    return MaskObservation(Pendulum(), (0, 1))


def mountain_car_po() -> MaskObservation:
    return MaskObservation(MountainCar(), (0,))


def acrobot_po() -> MaskObservation:
    return MaskObservation(Acrobot(), (0, 1, 2, 3))
