"""JAXRL_COMPILATION_CACHE: a folder enables XLA's persistent cache there; an empty value disables it."""

import os
import subprocess
import sys

CODE = (
    "import collections, jax.monitoring, jaxrl; "
    "events = collections.Counter(); "
    "jax.monitoring.register_event_listener(lambda name, **kw: events.update([name])); "
    "r = jaxrl.train('ppo', 'ProbeConstantReward-v0', total_timesteps=256, out=None, progress=False, "
    "config=dict(num_envs=4, num_steps=8, num_minibatches=2, update_epochs=1, num_logs=1, eval_episodes=2)); "
    "print(events['/jax/compilation_cache/cache_hits'], events['/jax/compilation_cache/cache_misses'])"
)


def _run(cache_value, home):
    env = {**os.environ, "JAXRL_COMPILATION_CACHE": cache_value, "HOME": str(home)}
    proc = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    hits, misses = proc.stdout.strip().splitlines()[-1].split()
    return int(hits), int(misses)


def test_cache_folder_is_used_and_reused(tmp_path):
    cache = tmp_path / "xla-cache"
    cold_hits, cold_misses = _run(str(cache), tmp_path)
    entries = sorted(cache.iterdir())
    assert entries, "no compiled program was written to the cache folder"
    assert cold_misses >= 3  # init, chunk and evaluation programs at least
    warm_hits, warm_misses = _run(str(cache), tmp_path)
    assert warm_misses == 0 and warm_hits >= cold_misses, (warm_hits, warm_misses)
    assert sorted(cache.iterdir()) == entries


def test_empty_value_disables_the_cache(tmp_path):
    _run("", tmp_path)
    assert not (tmp_path / ".cache" / "jaxrl").exists()
