"""On-disk artefact cache: keys from parameters, atomic writes, verified reads.

Every stage result lives at ``<artefact_dir>/<stage>/<key>.<ext>`` where
``key`` is a hash of the JSON of everything that made it. A result is written
to a temporary file in the same folder, flushed, and renamed into place; then
a sidecar ``<key>.json`` records the parameters and the SHA-256 of the file.
The sidecar is the completeness marker: a file without one, or whose checksum
does not match, is reported and rebuilt, never read.
"""
from __future__ import annotations

import hashlib
import json
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np

from .atomic import atomic_file, atomic_path

__all__ = ["make_key", "ArtefactStore", "CorruptArtefactWarning", "sha256_file"]


class CorruptArtefactWarning(UserWarning):
    """An artefact on disk failed verification and will be rebuilt."""


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in sorted(obj.items())}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def make_key(params: dict) -> str:
    """A short stable hash of a parameter dict (order-independent)."""
    blob = json.dumps(_jsonable(params), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def sha256_file(path, chunk=1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _atomic_json(path: Path, obj):
    with atomic_file(path, "w") as fh:
        json.dump(_jsonable(obj), fh, indent=1, sort_keys=True)


class ArtefactStore:
    """Cached, verified artefacts under one root folder."""

    def __init__(self, root):
        self.root = Path(root)
        # what this store did: (stage, "reused" | "computed", seconds); a computed stage's
        # seconds include the upstream stages it computed on the way
        self.ledger: list[tuple[str, str, float]] = []
        self._missed: dict[Path, float] = {}

    def path(self, stage: str, params: dict, ext: str) -> Path:
        return self.root / stage / f"{make_key(params)}.{ext}"

    # -- generic --------------------------------------------------------
    def _valid(self, path: Path) -> bool:
        meta = path.with_suffix(".json")
        if not path.exists():
            return False
        if not meta.exists():
            warnings.warn(f"artefact {path} has no completeness marker; rebuilding",
                          CorruptArtefactWarning, stacklevel=3)
            return False
        try:
            info = json.loads(meta.read_text())
            ok = info.get("sha256") == sha256_file(path)
        except (OSError, ValueError):
            ok = False
        if not ok:
            warnings.warn(f"artefact {path} failed its checksum; rebuilding",
                          CorruptArtefactWarning, stacklevel=3)
        return ok

    def _mark_complete(self, path: Path, params: dict, extra: dict | None):
        _atomic_json(path.with_suffix(".json"),
                     {"params": params, "sha256": sha256_file(path), **(extra or {})})

    def meta(self, stage: str, params: dict, ext: str) -> dict:
        return json.loads(self.path(stage, params, ext).with_suffix(".json").read_text())

    # -- arrays ---------------------------------------------------------
    def load_arrays(self, stage: str, params: dict):
        """Verified arrays of a stage, or ``None`` when absent or corrupt."""
        path = self.path(stage, params, "npz")
        if not self._valid(path):
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            warnings.warn(f"artefact {path} unreadable ({err}); rebuilding",
                          CorruptArtefactWarning, stacklevel=2)
            return None

    def save_arrays(self, stage: str, params: dict, arrays: dict, extra: dict | None = None):
        path = self.path(stage, params, "npz")
        with atomic_file(path) as fh:
            np.savez(fh, **arrays)
        self._mark_complete(path, params, extra)
        return path

    def cached_arrays(self, stage: str, params: dict, compute, extra=None):
        """Return cached arrays for ``params`` or compute, store and return them.

        ``compute()`` returns a dict of arrays, or ``(arrays, extra_meta)``.
        """
        found = self.load_arrays(stage, params)
        if found is not None:
            self.ledger.append((stage, "reused", 0.0))
            return found
        t0 = time.perf_counter()
        result = compute()
        if isinstance(result, tuple):
            result, extra = result
        self.save_arrays(stage, params, result, extra)
        self.ledger.append((stage, "computed", time.perf_counter() - t0))
        return result

    def summary(self) -> str:
        """Which stages this store reused and which it computed, with their seconds."""
        if not self.ledger:
            return "no cached stage was read or computed"
        done, reused = {}, {}
        for stage, what, sec in self.ledger:
            if what == "computed":
                n, total = done.get(stage, (0, 0.0))
                done[stage] = (n + 1, total + sec)
            else:
                reused[stage] = reused.get(stage, 0) + 1
        parts = [f"reused {sum(reused.values())} cached stages"
                 + (f" ({', '.join(f'{k} {v}' for k, v in reused.items())})" if reused else "")]
        parts.append("computed " + (", ".join(f"{k} x{n} in {sec:.1f} s"
                                              for k, (n, sec) in done.items()) or "nothing"))
        return "; ".join(parts) + ("" if not done else
                                   " (a stage's seconds include the stages it needed)")

    # -- keras models ---------------------------------------------------
    def load_model(self, stage: str, params: dict):
        import keras

        path = self.path(stage, params, "keras")
        if self._valid(path):
            try:
                model = keras.models.load_model(path, safe_mode=True, compile=False)
                self.ledger.append((stage, "reused", 0.0))
                return model
            except Exception as err:  # noqa: BLE001 - any load failure means rebuild
                warnings.warn(f"model {path} unreadable ({err}); rebuilding",
                              CorruptArtefactWarning, stacklevel=2)
        self._missed[path] = time.perf_counter()
        return None

    def save_model(self, stage: str, params: dict, model, extra: dict | None = None):
        path = self.path(stage, params, "keras")
        with atomic_path(path) as tmp:
            model.save(tmp)
        self._mark_complete(path, params, extra)
        start = self._missed.pop(path, None)
        self.ledger.append((stage, "computed",
                            0.0 if start is None else time.perf_counter() - start))
        return path
