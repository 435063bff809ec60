"""Building blocks shared by the agents: rollout, returns, losses, networks, distributions, replay,
minibatches, exploration and schedules, and the one optimiser factory. Pure JAX functions and flax
modules; they import only `jaxrl.envs` and the backend corner's entry points."""
