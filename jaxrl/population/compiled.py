"""The compiled program of a population: build, place on the devices, size and cache it.

`get_program(resolved, env, env_params, layout, eval_key)` returns the `Program` of one static
configuration and population layout, compiling it (ahead of time) on first use: init, a chunk of
updates with finite-flags, and the evaluation program, each over the member axis and, on several
devices, `jit`ted with `NamedSharding` over a 1-D mesh. Programs are cached in-process, keyed on
everything that determines them (agent, static config, the env's class and constructor state, its
params' values, layout, backend, devices, active tunings), at most `MAX_PROGRAMS` of them.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import functools
import time
import types
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import backend
from jaxrl.agents import AgentFns, get_agent, list_agents
from jaxrl.config import ConfigError, ResolvedConfig
from jaxrl.envs.multi import is_multi_agent, single_agent_view
from jaxrl.envs.wrappers import EpisodeStatistics
from jaxrl.population import sharding
from jaxrl.population.members import Layout, WithContext, placed_inputs
from jaxrl.population.program import eval_discount, make_chunk, make_evaluate, with_finite_flags

MAX_PROGRAMS = 16

# Compiles beside the chunk's (the longest): init, then the eval program, one after the other, so
# the second core is busy while the chunk compiles and free once training runs. (Compiled while the
# first chunks ran, the eval program took a core from training: PQN's run 3.9 -> 3.3 s without it.)
_BACKGROUND = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="jaxrl-compile")
_PROGRAMS: collections.OrderedDict[tuple, Program] = collections.OrderedDict()


@dataclasses.dataclass
class Program:
    """The compiled functions of one (algo, env, static config, layout)."""

    init: Any  # (keys [size], hparams [size]) -> state [size]
    chunk: Any  # (state, hparams, num_updates) -> (state, metric sums [size], (finite flags [size, leaves],
    #   first bad update [size, len(WATCHED)]))
    # evaluate(): (state, hparams, key) -> {EVAL_FIELDS name: [size, episodes]}
    evaluate_future: concurrent.futures.Future  # the eval program, compiled beside the chunk
    policy: Any  # state -> policy params (the agent's `policy`)
    steps_per_update: int
    compile_s: float  # time spent waiting for compiles: init and chunk, then any wait for evaluate
    state_shape: Any  # the member-batched state as ShapeDtypeStructs (padded to the population size)
    float_leaves: list[str]  # tree paths of the state's float leaves, in the order of the finite flags
    bytes_per_device: int | None  # the chunk program's memory need per device (XLA's analysis)
    state_sharding: Any  # where the state lives on several devices (None on one)

    def evaluate(self) -> Any:
        """The compiled `(state, hparams, key) -> {name: [size, episodes]}`. The first call waits
        for its background compile if needed; the wait counts as compile time."""
        if not self.evaluate_future.done():
            t0 = time.perf_counter()
            self.evaluate_future.result()
            self.compile_s += time.perf_counter() - t0
        return self.evaluate_future.result()


def build_agent(resolved: ResolvedConfig, env, env_params) -> AgentFns:
    """The agent's pure functions for this run (the env wrapped for episode statistics; a
    multi-agent env seen through its `TeamView`). ConfigError (a ValueError) if the agent and the
    env disagree on being multi-agent, or the agent cannot read the env's spaces under its config
    (e.g. an image smaller than the chosen CNN torso accepts): the agents raise ValueError there,
    before anything is traced."""
    spec = get_agent(resolved.algo)
    if spec.multi_agent != is_multi_agent(env):
        raise ConfigError(_kind_mismatch(spec, resolved.env, env))
    try:
        return spec.build(EpisodeStatistics(single_agent_view(env)), env_params, resolved.config)
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def member_functions(resolved: ResolvedConfig, env, env_params, fns: AgentFns):
    """One member's `init(key, h)`, `update(state, h)` and `evaluate(state, h, key)`.

    With per-member contexts (`resolved.member_contexts`), `h` is a `WithContext` and the agent is
    built inside the traced function with the env params that the member's context overrides, so
    every member trains and is evaluated on its own env while all share one program; the agent
    never sees the context. The fields a context overrides must not change the env's spaces.
    """
    episodes, deterministic = resolved.run.eval_episodes, not resolved.run.eval_stochastic
    if resolved.member_contexts is None:
        evaluate = make_evaluate(env, env_params, fns.act, episodes, deterministic, initial_memory=fns.initial_memory)
        return fns.init, fns.update, lambda s, h, k: evaluate(fns.policy(s), k, eval_discount(h))

    def built(h: WithContext):
        params = env_params.replace(**h.context)
        return build_agent(resolved, env, params), params

    def evaluate_member(state, h: WithContext, key):
        member_fns, params = built(h)
        evaluate = make_evaluate(env, params, member_fns.act, episodes, deterministic,
                                 initial_memory=member_fns.initial_memory)
        return evaluate(member_fns.policy(state), key, eval_discount(h))

    return (lambda key, h: built(h)[0].init(key, h.hparams),
            lambda state, h: built(h)[0].update(state, h.hparams), evaluate_member)


def _kind_mismatch(spec, env_name: str, env) -> str:
    multi = [name for name in list_agents() if get_agent(name).multi_agent]
    if spec.multi_agent:
        return (f"{spec.name} is a multi-agent algorithm and {env_name} is a single-agent env; train it "
                f"with {', '.join(n for n in list_agents() if n not in multi)}, or give {spec.name} a "
                "multi-agent env (jaxrl envs lists them).")
    return (f"{spec.name} is a single-agent algorithm and {env_name} is a multi-agent env (agents: "
            f"{', '.join(env.agents)}); train it with {', '.join(multi)}.")


def get_program(resolved: ResolvedConfig, env, env_params, lay: Layout, keys, hparams,
                eval_key) -> tuple[Program, int]:
    """The cached program for this static configuration and layout, compiling it on first use for
    the shapes and placement of the member inputs `keys` `[size]` and `hparams` (`placed_inputs`).

    Returns `(program, num_compiles)`: 1 when the training program was compiled by this call.
    """
    key = _cache_key(resolved, env, env_params, lay)
    if key in _PROGRAMS:
        _PROGRAMS.move_to_end(key)
        return _PROGRAMS[key], 0
    program = _compile(resolved, env, env_params, lay, keys, hparams, eval_key)
    _PROGRAMS[key] = program
    while len(_PROGRAMS) > MAX_PROGRAMS:
        _PROGRAMS.popitem(last=False)
    return program, 1


def capacity(resolved: ResolvedConfig, env, env_params, lay: Layout) -> tuple[int, int, float]:
    """How many members of `resolved`'s static group one program can hold in device memory, at most
    `lay.num_members`. Compiles the program for the layout (kept for the run) and reads its memory
    analysis; when it does not fit, the per-member footprint sets the (device-multiple) capacity.
    Returns `(capacity, num_compiles, compile_s)` of this check."""
    keys, hparams = placed_inputs(resolved, lay)  # only their shapes and placement matter here
    program, compiles = get_program(resolved, env, env_params, lay, keys, hparams, jax.random.key(0))
    spent = (compiles, program.compile_s if compiles else 0.0)
    need, budget = program.bytes_per_device, sharding.memory_budget()
    if need is None or budget is None or need <= budget:
        return (lay.num_members, *spent)
    per_member = need / (lay.size // sharding.num_devices())
    fit = max(1, int(budget // per_member)) * sharding.num_devices()
    warnings.warn(f"{lay.num_members} members need ~{need / 2**30:.2f} GiB per device but ~{budget / 2**30:.2f} "
                  f"GiB is available: training them {fit} at a time.", stacklevel=2)
    return (min(fit, lay.num_members), *spent)


def _cache_key(resolved: ResolvedConfig, env, env_params, lay: Layout) -> tuple:
    contexts = None if resolved.member_contexts is None else tuple(sorted(resolved.member_contexts[0]))
    return (resolved.algo, get_agent(resolved.algo), resolved.config, resolved.run.eval_episodes,
            resolved.run.eval_stochastic, _static_key(env),
            _params_key(env_params), contexts, lay.size, lay.split_envs, jax.default_backend(), sharding.num_devices(), backend.active())


def _static_key(obj: Any, depth: int = 0) -> Any:
    """An env's class and constructor state, wrappers and adapters followed (a re-registered or
    redefined class is a new key). Objects that cannot be compared by value count by identity, and so
    do functions: their `__dict__` is empty, so two different reward functions would compare equal."""
    if isinstance(obj, (int, float, str, bool, bytes, type(None))):
        return obj
    if isinstance(obj, (types.FunctionType, types.MethodType, types.BuiltinFunctionType, functools.partial)):
        return ("id", _ByIdentity(obj))
    if isinstance(obj, (tuple, list)):
        return tuple(_static_key(v, depth + 1) for v in obj)
    if isinstance(obj, (np.ndarray, jax.Array)):
        return _params_key(obj)
    if hasattr(obj, "__dict__") and depth < 4 and not isinstance(obj, type):
        return (type(obj), tuple((k, _static_key(v, depth + 1)) for k, v in sorted(vars(obj).items())))
    return ("id", _ByIdentity(obj))  # kept alive by the key, so its id stays unique


class _ByIdentity:
    """An object in a cache key, hashed and compared by identity (it may be unhashable, e.g. a dict
    attribute of an adapted suite's env)."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any):
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ByIdentity) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


def _params_key(params: Any) -> tuple:
    leaves, treedef = jax.tree.flatten(params)
    arrays = [np.asarray(leaf) for leaf in leaves]
    return (str(treedef), tuple((a.shape, str(a.dtype), a.tobytes()) for a in arrays))


def _compile(resolved: ResolvedConfig, env, env_params, lay: Layout, keys, hparams, eval_key) -> Program:
    """Trace, lower and compile init, chunk and evaluate for the placed member inputs' shapes."""
    fns = build_agent(resolved, env, env_params)
    init, update, evaluate = member_functions(resolved, env, env_params, fns)
    init_fn = backend.init_members(init, lay.size)
    chunk_fn = backend.over_members(with_finite_flags(make_chunk(update)), lay.size, in_axes=(0, 0, None))
    evaluate_fn = backend.over_members(evaluate, lay.size, in_axes=(0, 0, None))
    t0 = time.perf_counter()
    with backend.random_lowering():
        init_traced = jax.jit(init_fn).trace(keys, hparams)
        state_shape = jax.tree.map(lambda o: jax.ShapeDtypeStruct(o.shape, o.dtype), init_traced.out_info)
        state_sharding, small = _shardings(resolved, lay, state_shape)
        chunk = jax.jit(chunk_fn, donate_argnums=(0,),
                        **({} if small is None else {"out_shardings": (state_sharding, small, small)}))
        evaluate_all = jax.jit(evaluate_fn, **({} if small is None else {"out_shardings": small}))
        placed_shape = sharding.with_sharding(state_shape, state_sharding)
        chunk_lowered = chunk.lower(placed_shape, hparams, jax.ShapeDtypeStruct((), jnp.int32))
    # XLA compiles in C++ without the GIL: the long chunk compiles (from here on) while init and then
    # the eval program are lowered and compiled.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        chunk_future = pool.submit(chunk_lowered.compile)
        with backend.random_lowering():
            init_lowered = _lower_init(init_fn, init_traced, keys, hparams, state_sharding)
        init_future = _BACKGROUND.submit(init_lowered.compile, backend.init_compile_options())
        eval_future = _BACKGROUND.submit(_lower_and_compile, evaluate_all, placed_shape, hparams, eval_key)
        init_compiled, chunk_compiled = init_future.result(), chunk_future.result()
    if backend.init_on_one_device(state_sharding):
        init_compiled = _placed_after(init_compiled, state_sharding)
    return Program(init_compiled, chunk_compiled, eval_future, policy=fns.policy,
                   steps_per_update=fns.steps_per_update, compile_s=time.perf_counter() - t0,
                   state_shape=placed_shape, float_leaves=_float_leaf_names(state_shape),
                   bytes_per_device=_memory_need(chunk_compiled), state_sharding=state_sharding)


def _shardings(resolved: ResolvedConfig, lay: Layout, state_shape) -> tuple[Any, Any]:
    """`(state sharding, sharding of small outputs)`: split over the member axis on several devices,
    or for a single run its env batch split (its other state replicated; XLA inserts the gradient
    all-reduce). None on one device."""
    if lay.split_envs:
        return sharding.env_axis_sharding(state_shape, resolved.config.num_envs), sharding.replicated()
    members = sharding.member_sharding(lay.size)
    return members, members


def _lower_init(init_fn, init_traced, keys, hparams, state_sharding):
    """The lowered init: from the trace that gave the state's shapes on one device; on several CPU
    devices for this process's first device alone (see `_placed_after`); else sharded."""
    if state_sharding is None:
        return init_traced.lower()
    if backend.init_on_one_device(state_sharding):
        first = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
        on_first = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=first), (keys, hparams))
        return jax.jit(init_fn).trace(*on_first).lower()
    return jax.jit(init_fn, out_shardings=state_sharding).trace(keys, hparams).lower()


def _placed_after(init_compiled, state_sharding):
    """Run the one-device `init_compiled` on this process's first device, then split its state
    over the devices (host memory is shared, so on CPU the placement is a copy)."""
    first = jax.local_devices()[0]

    def init(keys, hparams):
        return jax.device_put(init_compiled(*jax.device_put((keys, hparams), first)), state_sharding)

    return init


def _lower_and_compile(jitted, *args):
    with backend.random_lowering():  # this thread's lowering, too
        lowered = jitted.lower(*args)
    return lowered.compile()


def _memory_need(compiled) -> int | None:
    """Bytes a compiled program needs at once per device (arguments + outputs + temporaries - aliased)."""
    try:
        m = compiled.memory_analysis()
        return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
                   - m.alias_size_in_bytes)
    except Exception:  # noqa: BLE001 - not every backend reports it
        return None


def _float_leaf_names(state_shape: Any) -> list[str]:
    paths = jax.tree_util.tree_flatten_with_path(state_shape)[0]
    return [jax.tree_util.keystr(path).lstrip(".") for path, leaf in paths
            if jnp.issubdtype(leaf.dtype, jnp.inexact)]
