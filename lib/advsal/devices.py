"""Where the study runs: one device, or several through ``tf.distribute``.

The ``strategy`` parameter chooses:

* ``"none"`` (default): TensorFlow's default strategy, one device;
* ``"mirrored"``: ``tf.distribute.MirroredStrategy`` over every GPU TensorFlow
  sees, or, without a GPU, over every logical CPU device. F and D are built and
  trained in its scope (Keras splits each training batch across the replicas and
  averages their gradients), and the attack, saliency and scoring batches are
  split across the replicas by :func:`run_split`.

A CPU is one device unless it is split: :func:`split_cpu` (or the environment
variable ``ADVSAL_CPU_DEVICES=n``, read when ``advsal`` is imported) makes ``n``
logical CPU devices, so the mirrored code path runs and is tested on a machine
without a GPU. It is a test of the code path, not a speed-up: the logical
devices share the same cores.
"""
from __future__ import annotations

import logging
import os

import numpy as np

__all__ = ["STRATEGIES", "make_strategy", "split_cpu", "run_split"]

STRATEGIES = ("none", "mirrored")
_MADE: dict = {}


def make_strategy(name: str):
    """The ``tf.distribute`` strategy named by the ``strategy`` parameter."""
    import tensorflow as tf

    if name not in STRATEGIES:
        raise ValueError(f"strategy={name!r} is not allowed; allowed: {list(STRATEGIES)}")
    if name == "none":
        return tf.distribute.get_strategy()
    if name not in _MADE:   # one per process: a model built in one strategy's scope cannot
        #                      be used in another's (several Studies share it)
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        _MADE[name] = tf.distribute.MirroredStrategy(devices=[d.name for d in devices])
        # run_split runs the replicas eagerly (its functions are compiled per model, not
        # around strategy.run); TensorFlow warns about that at every call
        tf.get_logger().addFilter(_NotEagerWarning())
    return _MADE[name]


class _NotEagerWarning(logging.Filter):
    def filter(self, record):
        return "Using MirroredStrategy eagerly" not in record.getMessage()


def split_cpu(n: int):
    """Split the CPU into ``n`` logical devices. Must run before TensorFlow's runtime
    starts (before the first model, tensor or device listing of the process)."""
    import tensorflow as tf

    n = int(n)
    if n < 1:
        raise ValueError(f"ADVSAL_CPU_DEVICES / n={n!r} must be a positive integer")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
    except RuntimeError as err:
        raise RuntimeError("split_cpu must run before TensorFlow's runtime starts: set "
                           "ADVSAL_CPU_DEVICES before importing advsal, or call it first "
                           f"in a fresh process ({err})") from err


def split_cpu_from_env():
    """:func:`split_cpu` with ``$ADVSAL_CPU_DEVICES``, when it is set."""
    n = os.environ.get("ADVSAL_CPU_DEVICES")
    if n:
        split_cpu(int(n))


def run_split(fn, *parts):
    """``fn(*parts)`` as one array; in the scope of a strategy with ``n > 1`` replicas,
    each replica runs ``fn`` on its contiguous ``1/n`` of the batch and the outputs
    are concatenated in order (the same rows as one call, up to float rounding)."""
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()
    n, k = strategy.num_replicas_in_sync, len(parts[0])
    if n == 1 or k < n:
        return np.asarray(fn(*parts))
    bounds = np.linspace(0, k, n + 1).astype(int)

    def share(ctx):
        i = ctx.replica_id_in_sync_group
        return tuple(tf.constant(p[bounds[i]:bounds[i + 1]]) for p in parts)

    values = strategy.experimental_distribute_values_from_function(share)
    out = strategy.run(lambda args: fn(*args), args=(values,))
    return np.concatenate([np.asarray(o) for o in strategy.experimental_local_results(out)])
