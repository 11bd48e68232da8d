"""Writing a file so that readers see the old version or the complete new one,
never a part: write a temporary file beside the target, flush it to disk, then
rename it onto the target (atomic within one file system)."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_file", "atomic_text"]

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_path(target, suffix=None):
    """``with atomic_path(path) as tmp: writer(tmp)`` for writers that take a path
    (Keras, for one): ``tmp`` (same folder and extension) replaces ``path`` once the
    block ends; on an error it is removed and ``path`` is untouched."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-",
                               suffix=target.suffix if suffix is None else suffix)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)   # mkstemp makes it owner-only; a plain open would not
    try:
        yield Path(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_file(target, mode="wb", suffix=None):
    """``with atomic_file(path) as fh: ...``: :func:`atomic_path` with an open file."""
    with atomic_path(target, suffix) as tmp, open(tmp, mode) as fh:
        yield fh


def atomic_text(target, text: str):
    with atomic_file(target, "w") as fh:
        fh.write(text)
