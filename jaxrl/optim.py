"""The learners' optimiser: global-norm gradient clipping, then an optax optimiser, over one flat vector.

`optax.flatten` concatenates the parameter tree into one vector before clipping and the optimiser's
update, and splits the updates back. The result is the same update as on the tree, up to float
rounding in the gradient norm's sum. It costs one concatenation and one split per step; in return
each elementwise stage (clip, the moment updates, the step) runs over a single array instead of
once per parameter leaf. On CPU that cut the compile time of 200-update programs by 15-28% (PPO,
DQN, SAC, measured side by side in one process) and the run time by 0-6%. The optimiser state
holds flat vectors accordingly.
"""

from __future__ import annotations

import jax
import optax


def clipped(optimizer: optax.GradientTransformation, max_grad_norm: jax.Array | float) -> optax.GradientTransformation:
    """`optimizer` applied after clipping the gradients' global norm to `max_grad_norm`, flattened."""
    return optax.flatten(optax.chain(optax.clip_by_global_norm(max_grad_norm), optimizer))
