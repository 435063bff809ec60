"""The population program: the members of one static configuration (seeds x traced settings) as
ONE compiled program, placed on this process's devices.

Used by the host loop (`jaxrl.training`), sweeps, policy loading and anything else that runs
populations. Its interface:

* `layout(resolved, min_size)` -> `Layout`: members reported and computed, env-batch splitting;
* `placed_inputs(resolved, layout, member_hparams=None)` -> per-member `(keys, hparams)` on the devices;
* `member_inputs(resolved, size)` -> the same on the host (e.g. for `jax.eval_shape`);
* `get_program(resolved, env, env_params, layout, keys, hparams, eval_key)` -> `(Program, num_compiles)`:
  init, chunk and evaluate compiled ahead of time and cached;
* `capacity(resolved, env, env_params, layout)`: how many members fit in device memory;
* `copy_members(state, sources, step, size)`: members continue from others' states (PBT);
* `build_agent(resolved, env, env_params)`: the agent's pure functions for a run;
* `member_functions(...)`: one member's init / update / evaluate, built per member inside the
  program when members have their own contexts (`ResolvedConfig.member_contexts`, `WithContext`);
* `make_chunk`, `make_evaluate`: the one-member functions the program maps over members, and
  `eval_discount(hparams)`: the discount of the evaluation's discounted return.
"""

from jaxrl.population.compiled import Program, build_agent, capacity, get_program, member_functions
from jaxrl.population.members import Layout, WithContext, copy_members, layout, member_inputs, placed_inputs
from jaxrl.population.program import eval_discount, make_chunk, make_evaluate

__all__ = [
    "Layout", "Program", "build_agent", "capacity", "copy_members", "eval_discount", "get_program", "layout",
    "make_chunk", "make_evaluate", "member_functions", "member_inputs", "placed_inputs", "WithContext",
]
