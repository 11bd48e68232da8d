"""The arithmetic a run does, counted as it runs: the floor under its wall time.

Every stage that runs a network adds the floating-point operations it executed
(:func:`add`), in multiples of one forward pass of that network over one image
(:func:`forward_flops`: 2 x the multiply-adds of its convolutions and dense
layers; pooling, activations and the optimiser's updates are not counted):

========================== ======================================================
``FORWARD`` (1)            inference: predictions, D scores, F's accuracy
``INPUT_GRADIENT`` (2)     forward + backward to the input (saliency, FGSM, one
                           step of an iterative attack); no weight gradients
``TRAIN_STEP`` (3)         forward + backward to activations and weights
========================== ======================================================

Attacks with a fixed number of steps declare their cost per image in their
spec (:attr:`advsal.attacks.AttackSpec.work`); those that stop per image (JSMA,
C&W with early abort, DeepFool) count the iterations they ran. The totals are
per process (a notebook's kernel), by stage kind; :func:`summary` prints them
and the runner records them per notebook, so that ``make bench`` can set each
notebook's wall time beside its floor: its work at the machine's measured
convolution peak. The floor is a lower bound: work not counted here (data
loading, memory traffic, Python) is what the ratio above 1 is made of.
"""
from __future__ import annotations

__all__ = ["FORWARD", "INPUT_GRADIENT", "TRAIN_STEP", "KINDS", "forward_flops", "add",
           "totals", "reset", "summary", "parse_tflop"]

FORWARD, INPUT_GRADIENT, TRAIN_STEP = 1.0, 2.0, 3.0

# Stage kinds, in the order a study meets them.
KINDS = ("F training", "attacks", "saliency", "D training", "inference", "peers",
         "adaptive attack")

_TOTALS: dict[str, float] = {}


def _layer_flops(layer) -> int:
    import keras

    if isinstance(layer, keras.Model):
        return sum(_layer_flops(sub) for sub in layer.layers)
    if isinstance(layer, keras.layers.Conv2D):
        h, w, cout = layer.output.shape[1:]
        kh, kw = layer.kernel_size
        return 2 * h * w * cout * kh * kw * layer.input.shape[-1] // layer.groups
    if isinstance(layer, keras.layers.Dense):
        return 2 * layer.input.shape[-1] * layer.units
    return 0


_FLOPS: dict[int, tuple] = {}   # id(model) -> (weak reference, FLOPs): never keeps a model


def forward_flops(model) -> int:
    """FLOPs of one forward pass of ``model`` over one image (its Conv2D and Dense
    layers, nested models included), computed once per model. Held by weak
    reference, so a detector released from memory is freed."""
    import weakref

    entry = _FLOPS.get(id(model))
    if entry is None or entry[0]() is not model:
        if len(_FLOPS) > 256:      # forget the models that were freed
            for k in [k for k, (ref, _) in _FLOPS.items() if ref() is None]:
                del _FLOPS[k]
        entry = _FLOPS[id(model)] = (weakref.ref(model), int(_layer_flops(model)))
    return entry[1]


def add(kind: str, model, images, passes: float):
    """Count ``images`` x ``passes`` forward-pass equivalents of ``model`` under ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not a stage kind; allowed: {list(KINDS)}")
    _TOTALS[kind] = _TOTALS.get(kind, 0.0) + float(images) * float(passes) * forward_flops(model)


def totals() -> dict:
    """FLOPs counted so far in this process, by stage kind."""
    return dict(_TOTALS)


def reset():
    _TOTALS.clear()


def summary() -> str:
    """One line: the TFLOP counted so far, in total and by stage kind."""
    t = totals()
    parts = ", ".join(f"{k} {t[k] / 1e12:.4g}" for k in KINDS if t.get(k))
    return f"work done: {sum(t.values()) / 1e12:.4g} TFLOP" + (f" ({parts})" if parts else "")


def parse_tflop(text: str) -> float:
    """The largest "work done: X TFLOP" in ``text`` (a kernel's running total), NaN if none."""
    import re

    found = [float(m) for m in re.findall(r"work done: ([\d.eE+-]+) TFLOP", text)]
    return max(found) if found else float("nan")
