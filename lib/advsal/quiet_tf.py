"""TensorFlow imported without its start-up log lines, so that a healthy notebook is
quiet in JupyterLab, papermill and a terminal alike.

TensorFlow's C++ runtime writes lines to file descriptor 2 while it loads (oneDNN,
CUDA stub, CPU features) and when it looks for a GPU (``failed call to cuInit`` on a
machine without one); the first of them come before its logging is initialised,
so ``TF_CPP_MIN_LOG_LEVEL`` cannot silence them. :func:`import_tensorflow` captures
descriptor 2 while TensorFlow loads and probes for GPUs, drops the lines known to
be harmless (:data:`HARMLESS`) and writes every other line back to stderr, so a real
problem still shows. ``TF_CPP_MIN_LOG_LEVEL`` defaults to 2 (warnings off, errors
shown) for what TensorFlow logs later.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile

__all__ = ["import_tensorflow", "HARMLESS", "harmless"]

HARMLESS = tuple(re.compile(p) for p in (
    r"All log messages before absl::InitializeLog\(\) is called",
    r"oneDNN custom operations are on",
    r"Could not find cuda drivers on your machine",
    r"cpu_feature_guard\.cc",
    r"To enable the following instructions: .* rebuild TensorFlow",
    r"failed call to cuInit",
    r"Unable to register cu(DNN|FFT|BLAS) factory",
    r"computation placer already registered",
    r"TF-TRT Warning: Could not find TensorRT",
))


def harmless(line: str) -> bool:
    """Whether a TensorFlow start-up line is one of :data:`HARMLESS`."""
    return any(p.search(line) for p in HARMLESS)


def import_tensorflow():
    """``tensorflow``, imported (once) with its harmless start-up lines dropped."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow as tf
            tf.config.list_physical_devices("GPU")   # the CUDA probe logs here
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode(errors="replace")
    kept = [line for line in text.splitlines(keepends=True) if not harmless(line)]
    if kept:
        sys.stderr.write("".join(kept))
    return tf
