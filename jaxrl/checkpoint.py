"""Checkpoints of the full training state: written by orbax, checked on the way back.

`RUN_DIR/checkpoints/STEP/` (STEP = environment steps per seed) holds two orbax items:

* `state`: every leaf of the seed-batched agent state in tree order, named "0000", "0001", ...
  (typed PRNG keys are stored as their uint32 key data);
* `progress`: JSON from the host loop (chunks done, last evaluation, timings...) plus a manifest of
  the leaves (tree path, shape, dtype, PRNG impl) and the SHA-256 of their bytes.

and `files.json`, the SHA-256 of every file orbax wrote. Writes are atomic: orbax writes (and
finalises by rename) `.staging-STEP/`, the file hashes are added, and a last rename makes it `STEP/`;
a crash mid-write leaves a folder whose name is not a step. On restore the files are checked
against their hashes before orbax reads them, then every leaf against the manifest, the expected
state and its hash; a step that fails is skipped with a warning and the previous one is tried. Saving copies the state to host memory on the caller's thread (the next chunk
may then reuse the device buffers) and writes it on a background thread, overlapping the next chunk;
orbax is imported on that thread too, so runs without checkpoints never pay for it.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import os
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxrl.rundir import StorageError, storage_problem

FORMAT = 1
_STAGING = ".staging-"
_FILES = "files.json"


class CheckpointError(ValueError):
    """No usable checkpoint where one was needed (or one that does not fit the run's state)."""


class CheckpointWriteError(StorageError):
    """A checkpoint could not be written (disk full, permissions...); earlier checkpoints are intact."""


@dataclasses.dataclass
class Restored:
    step: int
    state: Any
    progress: dict[str, Any]


def to_host(state: Any) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    """Copy every leaf of `state` to fresh host arrays; returns (leaves, manifest).

    Typed PRNG keys become their key data; the manifest records each leaf's tree path, shape,
    dtype and (for keys) the PRNG implementation needed to wrap it back.
    """
    leaves, manifest = [], []
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        entry = {"path": jax.tree_util.keystr(path)}
        if _is_key(leaf):
            entry["key_impl"] = str(jax.random.key_impl(leaf))
            leaf = jax.random.key_data(leaf)
        array = np.array(jax.device_get(leaf), copy=True)  # never a view of a buffer the next chunk donates
        entry.update(shape=list(array.shape), dtype=array.dtype.str)
        leaves.append(array)
        manifest.append(entry)
    return leaves, manifest


def digest(leaves: list[np.ndarray]) -> str:
    """SHA-256 over the dtype, shape and bytes of every leaf, in order."""
    h = hashlib.sha256()
    for leaf in leaves:
        h.update(f"{leaf.dtype.str}{leaf.shape}".encode())
        h.update(np.ascontiguousarray(leaf).tobytes())
    return h.hexdigest()


def list_steps(directory: str | Path) -> list[int]:
    """The finalised checkpoint steps in `directory`, ascending (incomplete writes are not steps)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(int(p.name) for p in directory.iterdir() if p.is_dir() and p.name.isdigit())


class CheckpointWriter:
    """Saves checkpoints into `directory` in the background, keeping the newest `keep`."""

    def __init__(self, directory: str | Path, keep: int):
        self.directory = Path(directory)
        self.keep = max(1, int(keep))
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="jaxrl-checkpoint")
        self._checkpointer = None
        # Import orbax (~0.5 s) off the caller's thread now, overlapping the first chunks. (Not while
        # compiling: an import racing jax's tracing on another thread risks an import-lock deadlock.)
        self._pending: concurrent.futures.Future | None = self._pool.submit(self._get_checkpointer)

    def _get_checkpointer(self):
        if self._checkpointer is None:
            import orbax.checkpoint as ocp

            self._checkpointer = ocp.Checkpointer(ocp.CompositeCheckpointHandler())
        return self._checkpointer

    def save(self, step: int, state: Any, progress: dict[str, Any]) -> None:
        """Snapshot `state` now (host copy) and write it as checkpoint `step` in the background."""
        self.wait()
        leaves, manifest = to_host(state)
        self._pending = self._pool.submit(self._write, int(step), leaves, manifest, dict(progress))

    def wait(self) -> None:
        """Block until the last save is on disk; re-raises its error, if any."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)

    def _write(self, step: int, leaves: list[np.ndarray], manifest: list[dict], progress: dict) -> None:
        staging = self.directory / f"{_STAGING}{step}"
        try:
            self._write_staged(staging, step, leaves, manifest, progress)
        except Exception as exc:
            cause = _os_error(exc)
            if cause is None:
                raise
            _remove_staging(staging)  # give back the space the partial write took
            raise CheckpointWriteError(self._failure_message(step, cause)) from exc
        for old in list_steps(self.directory)[: -self.keep]:
            if old < step:
                _remove(self.directory / str(old))
        for leftover in self.directory.glob("*.deleting"):  # from a crash mid-delete
            shutil.rmtree(leftover, ignore_errors=True)

    def _write_staged(self, staging: Path, step: int, leaves: list[np.ndarray], manifest: list[dict],
                      progress: dict) -> None:
        """Write checkpoint `step` into `staging`, then rename it to `STEP/` (the atomic commit)."""
        import orbax.checkpoint as ocp

        checkpointer = self._get_checkpointer()
        progress.update(format=FORMAT, step=step, leaves=manifest, sha256=digest(leaves))
        self.directory.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        if jax.process_count() > 1:
            _write_private(staging, leaves, progress)
        else:
            checkpointer.save(
                staging.absolute(),
                args=ocp.args.Composite(
                    state=ocp.args.PyTreeSave({f"{i:04d}": leaf for i, leaf in enumerate(leaves)}),
                    progress=ocp.args.JsonSave(progress),
                ),
            )
        (staging / _FILES).write_text(json.dumps(_file_hashes(staging), indent=0))
        os.replace(staging, self.directory / str(step))

    def _failure_message(self, step: int, cause: OSError) -> str:
        steps = list_steps(self.directory)
        last = (f"the last good checkpoint is step {steps[-1]}, in {str(self.directory / str(steps[-1]))!r}"
                if steps else "no checkpoint had been written before this one")
        return (
            f"Could not write checkpoint {step} in {str(self.directory)!r}: {storage_problem(cause)}. "
            f"The incomplete write was removed and earlier checkpoints are untouched: {last}. Free some space "
            "(or fix the permissions), then continue the run from there with --resume "
            f"(jaxrl train --resume {self.directory.parent})."
        )


def restore(directory: str | Path, abstract_state: Any, step: int | None = None) -> Restored | None:
    """Restore checkpoint `step`, or (step=None) the newest one that passes every check.

    `abstract_state` is the expected state (e.g. `jax.eval_shape` of the init function). With
    step=None, unusable checkpoints are skipped with a warning and None is returned when none is
    usable; an explicitly requested `step` that is missing or unusable raises `CheckpointError`.
    """
    directory = Path(directory)
    if directory.is_dir():
        for partial in sorted(p.name for p in directory.iterdir() if p.name.startswith(_STAGING)):
            warnings.warn(
                f"Ignoring incomplete checkpoint {str(directory / partial)!r} (its write was interrupted).",
                stacklevel=2,
            )
    steps = list_steps(directory)
    if step is not None:
        if step not in steps:
            raise CheckpointError(
                f"No checkpoint for step {step} in {str(directory)!r}; available steps: "
                f"{', '.join(map(str, steps)) or 'none'}."
            )
        try:
            return _restore_step(directory / str(step), abstract_state)
        except Exception as exc:  # noqa: BLE001 - any failure means the checkpoint is unusable
            raise CheckpointError(f"Checkpoint {str(directory / str(step))!r} is unusable: {_reason(exc)}") from exc
    for candidate in reversed(steps):
        try:
            return _restore_step(directory / str(candidate), abstract_state)
        except Exception as exc:  # noqa: BLE001
            warnings.warn(
                f"Skipping unusable checkpoint {str(directory / str(candidate))!r}: {_reason(exc)}; "
                "falling back to the previous one.",
                stacklevel=2,
            )
    return None


def set_aside_after(directory: str | Path, step: int) -> list[Path]:
    """After resuming from `step`: rename newer (unusable) checkpoints to `STEP.corrupt` and delete
    the staging folders of interrupted writes."""
    for partial in Path(directory).glob(f"{_STAGING}*"):
        shutil.rmtree(partial, ignore_errors=True)
    moved = []
    for later in list_steps(directory):
        if later > step:
            target = Path(directory) / f"{later}.corrupt"
            if target.exists():
                _remove(target)
            (Path(directory) / str(later)).rename(target)
            moved.append(target)
    return moved


def _file_hashes(folder: Path) -> dict[str, str]:
    hashes = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != _FILES):
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        hashes[path.relative_to(folder).as_posix()] = h.hexdigest()
    return hashes


def _restore_step(path: Path, abstract_state: Any) -> Restored:
    import orbax.checkpoint as ocp

    try:
        expected_files = json.loads((path / _FILES).read_text())
    except (OSError, ValueError):
        raise CheckpointError(f"its file list {_FILES} is missing or unreadable") from None
    actual_files = _file_hashes(path)
    damaged = sorted(name for name in expected_files if actual_files.get(name) != expected_files[name])
    if damaged:
        raise CheckpointError(f"{len(damaged)} file(s) missing or changed since written, e.g. {damaged[0]}")
    if (path / _PRIVATE_STATE).exists():
        restored = _read_private(path)
    else:
        restored = ocp.Checkpointer(ocp.CompositeCheckpointHandler()).restore(
            path.absolute(),
            args=ocp.args.Composite(state=ocp.args.PyTreeRestore(), progress=ocp.args.JsonRestore()),
        )
    progress = dict(restored["progress"])
    if progress.get("format") != FORMAT:
        raise CheckpointError(f"unknown checkpoint format {progress.get('format')!r}")
    saved = restored["state"]
    manifest = progress["leaves"]
    leaves = [np.asarray(saved[f"{i:04d}"]) for i in range(len(manifest))]
    if len(saved) != len(manifest):
        raise CheckpointError(f"{len(saved)} leaves stored but the manifest lists {len(manifest)}")
    if digest(leaves) != progress["sha256"]:
        raise CheckpointError("the stored arrays do not match their SHA-256 (corrupt data)")
    expected, treedef = jax.tree_util.tree_flatten_with_path(abstract_state)
    if len(expected) != len(leaves):
        raise CheckpointError(
            f"it holds {len(leaves)} arrays but this run's state has {len(expected)} (different agent or config?)"
        )
    out = []
    for (key_path, want), leaf, entry in zip(expected, leaves, manifest):
        name = jax.tree_util.keystr(key_path)
        if _is_key(want):
            value = jax.random.wrap_key_data(leaf, impl=entry.get("key_impl", ""))
        else:
            value = leaf
        if value.shape != want.shape or value.dtype != want.dtype:
            raise CheckpointError(
                f"leaf {name} is {value.dtype}{list(value.shape)} in the checkpoint but "
                f"{want.dtype}{list(want.shape)} in this run's state"
            )
        out.append(jax.device_put(value))
    step = int(progress["step"])
    if path.name != str(step):
        raise CheckpointError(f"it says step {step} but is stored as {path.name}")
    return Restored(step, jax.tree_util.tree_unflatten(treedef, out), progress)


_PRIVATE_STATE, _PRIVATE_PROGRESS = "state.npz", "progress.json"


def _write_private(folder: Path, leaves: list[np.ndarray], progress: dict) -> None:
    """The checkpoint of one process of several (`jax.distributed`): orbax writes NumPy leaves from
    process 0 only and synchronises all processes, but each process owns its run directory, so
    the same leaves and progress go to `state.npz` and `progress.json` (hashed and renamed as usual)."""
    folder.mkdir(parents=True)
    with open(folder / _PRIVATE_STATE, "wb") as f:
        np.savez(f, **{f"{i:04d}": leaf for i, leaf in enumerate(leaves)})
    (folder / _PRIVATE_PROGRESS).write_text(json.dumps(progress))


def _read_private(folder: Path) -> dict[str, Any]:
    with np.load(folder / _PRIVATE_STATE, allow_pickle=False) as data:
        state = {name: data[name] for name in data.files}
    return {"state": state, "progress": json.loads((folder / _PRIVATE_PROGRESS).read_text())}


def _os_error(exc: BaseException | None) -> OSError | None:
    """The OSError behind `exc` (itself, or one it was raised from), or None.

    Orbax writes arrays through tensorstore, which reports a failed write as a ValueError whose
    message ends in `[os_error_code='28']`; that becomes the OSError it stands for.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError):
            return exc
        code = re.search(r"\[os_error_code='(\d+)'\]", str(exc))
        if code:
            return OSError(int(code[1]), os.strerror(int(code[1])))
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _remove_staging(staging: Path) -> None:
    """Delete an unfinished write: `staging` and the temporary folders orbax made next to it."""
    for path in [staging, *staging.parent.glob(f"{staging.name}.orbax-checkpoint-tmp*")]:
        shutil.rmtree(path, ignore_errors=True)


def _is_key(leaf: Any) -> bool:
    return jax.dtypes.issubdtype(getattr(leaf, "dtype", None), jax.dtypes.prng_key)


def _remove(path: Path) -> None:
    """Delete a checkpoint folder; renamed first so a crash mid-delete never leaves a step behind."""
    doomed = path.with_name(f"{path.name}.deleting")
    try:
        path.rename(doomed)
    except FileNotFoundError:
        return
    shutil.rmtree(doomed, ignore_errors=True)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = re.sub(r"\s*\[source locations?=.*", "", text)
    return text if len(text) <= 300 else text[:297] + "..."
