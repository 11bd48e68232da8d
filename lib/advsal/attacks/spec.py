"""What the study knows about an attack, declared once: :class:`AttackSpec`.

Each attack module (``fgsm``, ``iterative``, ``iter_l1``, ``jsma``, ``cw_l2``,
``deepfool``) declares its spec with :func:`register`; everything else
(parameters and their validation, cache keys, calibration grids, tables,
plots, verdicts, notebooks) reads the registry through :func:`attack_spec`
and :func:`attack_names`. Adding an attack is one new module and its import in
``attacks/__init__.py``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

__all__ = ["AttackSpec", "POSITIVE", "NON_NEGATIVE", "register", "attack_spec", "attack_names", "budget_attacks",
           "attack_defaults", "validate_params", "check_eps", "NORMS"]

# The distance an attack's budget bounds: l_inf, l_2, l_1, or l_0 as a share of the
# features (JSMA's gamma).
NORMS = ("linf", "l2", "l1", "l0")


# Checks of a number-valued parameter: (predicate, what is allowed)
POSITIVE = (lambda v: v > 0, "a positive number")
NON_NEGATIVE = (lambda v: v >= 0, "a non-negative number")


@dataclass(frozen=True)
class AttackSpec:
    """One attack as the study sees it.

    ``run(model, x, eps, params, seed, progress) -> (x_adv, info)`` crafts a
    float32 array (``info`` holds e.g. the targets of a targeted attack).
    ``norm`` is the distance its budget bounds (:data:`NORMS`); ``budget=False``
    for minimal-perturbation attacks (C&W, DeepFool), which have no epsilon and
    are not calibrated. ``defaults`` are its parameters with their default
    values (they join every preset); ``key_params`` those that make its cache
    key (``cache_key`` may add more, e.g. a key that only appears when a
    non-default behaviour is on). ``checks`` maps a number-valued parameter to
    (predicate, what is allowed); integer parameters must be positive, booleans
    True or False (:func:`validate_params`). ``eps_grid`` maps a data set's grid family
    (``mnist``, ``cifar10``) to the sorted calibration grid. ``scan``, when
    given, returns F's accuracy at every grid value from one run (calibration
    without a binary search). ``paper_table2`` holds the paper's Table II row
    (f(x_test), f(x_adv), D(x_test), D(x_adv)) per data set.
    ``work(params, eps, n_features, n_classes)`` is the attack's arithmetic per image
    in forward passes of F (:mod:`advsal.work`: an input gradient is 2); for attacks
    that stop per image (``stops_early``) the most it can be: those count the
    iterations they ran themselves.
    """
    name: str
    label: str                       # tables and plots (matplotlib mathtext allowed)
    run: Callable
    norm: str
    budget: bool = True
    defaults: dict = field(default_factory=dict)
    key_params: tuple = ()
    cache_key: Callable | None = None
    checks: dict = field(default_factory=dict)
    eps_grid: dict = field(default_factory=dict)
    scan: Callable | None = None
    in_default_study: bool = True    # in every preset's ``attacks`` unless a preset says otherwise
    table3: bool = False             # the paper's Table III / IV (generalisation across budgets)
    paper_group: str | None = None   # Section IV.B: "strong" or "weak" attack
    paper_table2: dict = field(default_factory=dict)
    work: Callable | None = None
    stops_early: bool = False
    doc: str = ""

    def key(self, params: dict) -> dict:
        """The parameters of this attack that its results depend on (cache keys)."""
        out = {k: params[k] for k in self.key_params}
        if self.cache_key is not None:
            out.update(self.cache_key(params))
        return out

    @property
    def unit_budget(self) -> bool:
        """The budget is at most 1 (l_inf in [0, 1] images, or a share of features)."""
        return self.budget and self.norm in ("linf", "l0")

    @property
    def linf_ball(self) -> bool:
        """The budget is an l_inf ball (8-bit rounding must stay inside it)."""
        return self.budget and self.norm == "linf"


_REGISTRY: dict[str, AttackSpec] = {}


def register(spec: AttackSpec) -> AttackSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"attack {spec.name!r} is registered twice")
    if spec.norm not in NORMS:
        raise ValueError(f"attack {spec.name!r}: norm={spec.norm!r}; allowed: {list(NORMS)}")
    _REGISTRY[spec.name] = spec
    return spec


def attack_names() -> tuple[str, ...]:
    """Every registered attack, in registration order."""
    return tuple(_REGISTRY)


def budget_attacks() -> tuple[str, ...]:
    """The attacks whose budget (epsilon) is calibrated."""
    return tuple(n for n, s in _REGISTRY.items() if s.budget)


def attack_spec(name: str) -> AttackSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"attack={name!r} is not known; allowed: {list(_REGISTRY)}") from None


def attack_defaults() -> dict:
    """Every attack's parameters with their defaults (one value per name: attacks that
    share a parameter, like the iterative ones' ``iter_steps``, must agree)."""
    out, owner = {}, {}
    for s in _REGISTRY.values():
        for k, v in s.defaults.items():
            if k in out and out[k] != v:
                raise ValueError(f"attacks {owner[k]!r} and {s.name!r} disagree on the default "
                                 f"of {k!r}: {out[k]!r} vs {v!r}")
            out[k], owner[k] = v, s.name
    return out


def validate_params(params: dict):
    """Check every attack's parameters in ``params``; a ``ValueError`` names the
    parameter and what is allowed."""
    for s in _REGISTRY.values():
        for k, default in s.defaults.items():
            v = params[k]
            if isinstance(default, bool):
                if not isinstance(v, bool):
                    raise ValueError(f"{k}={v!r} must be True or False")
            elif isinstance(default, int):
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    raise ValueError(f"{k}={v!r} must be a positive integer")
            else:
                ok, allowed = s.checks.get(k, (lambda _: True, "a number"))
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not ok(v):
                    raise ValueError(f"{k}={v!r} must be {allowed}")


def check_eps(attack: str, eps, n_features: int | None = None):
    """Validate an attack budget: l_inf and l_0 share in (0, 1], l_2/l_1 > 0 and at
    most the diameter of [0,1]^n; ignored for attacks without a budget."""
    spec = attack_spec(attack)
    if not spec.budget:
        return
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
        raise ValueError(f"eps[{attack!r}]={eps!r} must be a number > 0")
    if spec.unit_budget and eps > 1:
        raise ValueError(f"eps[{attack!r}]={eps!r} is beyond the input range [0, 1]; "
                         "allowed: 0 < eps <= 1")
    if n_features is not None and spec.norm in ("l2", "l1"):
        limit = n_features ** 0.5 if spec.norm == "l2" else n_features
        if eps > limit:
            raise ValueError(f"eps[{attack!r}]={eps!r} exceeds the largest possible distance "
                             f"in [0,1]^{n_features} ({limit:.1f})")
