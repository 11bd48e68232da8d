"""Study sizes as data: the ``smoke``, ``quick`` and ``paper`` presets.

``resolve_params(dataset, preset, **overrides)`` returns the flat parameter
dict every stage reads. A preset is a dict of defaults shared by all data sets
plus per-data-set entries; any key may be overridden by name (an unknown key,
data set, preset or value is a ``ValueError`` naming what is allowed).

* ``smoke``: seconds on a laptop; for the tests and CI. Numbers mean nothing.
* ``quick``: minutes on a 2-core CPU; numbers are meaningful (F near its
  accuracy target, detectors trained on a few thousand images).
* ``paper``: the sizes and training settings of Section IV (a GPU job).
"""
from __future__ import annotations

import copy
import os
from pathlib import Path

from .attacks import (attack_defaults, attack_names, attack_spec, budget_attacks, check_eps,
                      validate_params)
from .datasets import DATASETS, dataset_spec
from .detector_inputs import KINDS
from .devices import STRATEGIES
from .peer_detectors import peer_names

__all__ = ["PRESETS", "ATTACKS", "EPS_ATTACKS", "SALIENCY_NORMS", "resolve_params",
           "PAPER_TABLE2", "PAPER_F_ACCURACY", "GRID_FAMILY", "paper_values"]

ATTACKS = attack_names()       # every registered attack (advsal.attacks)
EPS_ATTACKS = budget_attacks()  # attacks whose budget ("epsilon") is calibrated so that F's accuracy < 30 %
SALIENCY_NORMS = ("none", "maxabs", "std")
ADV_QUANTIZE = ("8bit", "float")       # adversarial images on the 8-bit grid (k/255) or as floats
TRAIN_POSITIVES = ("all", "fooled")    # D's adversarial training images: all, or those fooling F
CALIB_TARGETS = ("section", "table2")   # epsilon calibrated to F accuracy 0.30, or Table II
D_SELECT = ("val_loss", "last")        # D's epoch: lowest validation loss, or the last one
DETECTOR_FEATURES = tuple(KINDS)   # advsal.detector_inputs

_COMMON = {
    "seed": 0,
    "attacks": [a for a in ATTACKS if attack_spec(a).in_default_study],
    "target_accuracy": 0.3,      # Section IV.B: F accuracy on adversarial data below 30 %
    # What epsilon is calibrated to: "section" (F accuracy < target_accuracy, Section IV.B)
    # or "table2" (F accuracy < the paper's Table II f(x_adv) of each attack: larger budgets)
    "calib_target": "section",
    **attack_defaults(),         # every attack's own parameters (its module declares them)
    "saliency_norm": "maxabs",
    "detector_features": "image+saliency",
    # Protocol (README, "Protocol"): adversarial images are quantised to the 8-bit grid, and
    # an attack counts only if it still fools F there; D's epoch is chosen and its
    # thresholds are set on a validation slice of the training images (n_val, disjoint
    # from D's training images); test images are only scored.
    "adv_quantize": "8bit",
    "train_positives": "fooled",
    "d_select": "val_loss",
    "eps_multipliers": [0.5, 1.0, 1.5, 2.0],   # Table III grid around the calibrated epsilon
    "attack_batch_size": 256,
    "f_augment": False,
    "f_fc_units": 4096,
    # F's fine-tuning phases after the first f_epochs at f_lr: [[epochs, lr], ...], each
    # from the previous phase's (cached) F with a fresh Adam; [] for none
    "f_finetune": [],
    # F's starting weights: "random", or (VGG16 networks) "imagenet" (keras.applications
    # VGG16's ImageNet weights, downloaded once) or the path of a local VGG16 weights file,
    # whose blocks 1-3 are copied by layer name (advsal.networks.copy_vgg16_weights)
    "f_init_weights": "random",
    "image_size": None,
    # "none" (one device) or "mirrored" (tf.distribute.MirroredStrategy over the GPUs, or
    # the logical CPU devices; advsal.devices); results equal up to float rounding
    "strategy": "none",
    "shard_size": None,          # stages over the training split in shards of this many images
    # Attack -> at most this many training images for its D (the first of the training
    # split; default every n_adv_train): the slow attacks (JSMA, C&W, DeepFool) at a size a
    # CPU finishes while the fast ones use every image (Study.n_train)
    "attack_train_sizes": {},
    # Attack -> at most this many test images attacked (the first of the test split; default
    # every n_adv_test); D is still scored on every clean test image
    "attack_test_sizes": {},
    "limit_per_class": None,     # image-folder data sets: images read per class (None: all)
    # Beyond the paper (notebooks 07 and 08): baseline detectors and adaptive attacks.
    "baseline_features": ["image", "saliency", "first_layer", "image+saliency"],
    "baseline_attacks": None,            # attacks with baseline detectors (None: all of `attacks`)
    # D's learning rates to choose from, per baseline input, by validation loss (notebook 07,
    # advsal.learning_rate); [] for none (every input at d_lr)
    "d_lr_candidates": [],
    # Input -> D's learning rate for detectors on that input, in place of d_lr (e.g. the
    # rates chosen from d_lr_candidates on validation, advsal.learning_rate.chosen_rates;
    # notebook 08 sets it so the detectors it attacks are those notebook 07 keeps)
    "d_lr_inputs": {},
    # Peer detectors (notebook 07, advsal.peer_detectors): fitted on D's training images,
    # hyperparameters chosen on the validation slice.
    "peer_detectors": ["lid", "mahalanobis", "kd"],
    "peer_attacks": None,                # attacks with peer detectors (None: all of `attacks`)
    "peer_n_ref": 100,                   # LID's clean reference images (Ma et al.: minibatch 100)
    "peer_n_fit": 5000,                  # clean images of the Gaussians (Mahalanobis) and KD
    "lid_ks": [10, 20, 40],              # LID's neighbours, chosen on validation
    "mahalanobis_noise": [0.0, 0.001, 0.002, 0.005],   # input preprocessing magnitudes
    "kd_bandwidths": [0.1, 0.3, 1.0],    # KD bandwidth, times the median feature distance
    "adaptive_det_attack": "iter_linf",   # detectors under attack are trained on this attack
    "adaptive_n": 200,                   # first n test images attacked
    "adaptive_steps": 50,                # PGD steps per restart
    "adaptive_restarts": 2,              # restart 0 at x, later ones at random in the eps ball
    "adaptive_step_ratio": 0.1,          # PGD step size = ratio * epsilon
    "adaptive_lambdas": [1.0, 0.3, 3.0], # weight of D's term, cycled over restarts
    "adaptive_betas": [10.0, 100.0],     # softplus beta, annealed geometrically
    "adaptive_anneal_steps": 40,         # steps over which beta goes from first to second value
    "adaptive_kappa": 1.0,               # hinge margin of both loss terms
    "adaptive_eps_multipliers": [0.5, 1.0, 1.5, 2.0],   # times the calibrated iter_linf epsilon
    "adaptive_extra_eps": [1.0],         # sanity point: unbounded l_inf budget
    "adaptive_thresholds": ["logit0", "val5", "val1"],   # the defender's thresholds attacked
    # Learning curve (notebook 09): D trained on the first n training images, n in
    # curve_sizes ("all": n_adv_train), per attack, detector input and calibration target.
    "curve_sizes": [250, 500, 1000, "all"],
    "curve_attacks": ["fgsm", "iter_linf"],
    "curve_features": ["image+saliency", "saliency"],
    "curve_targets": ["section", "table2"],
    # Steps-matched control: D on the first n images with its epochs scaled so that it
    # takes as many optimizer steps as D on all n_adv_train (separates data from steps)
    "curve_matched_sizes": [],
    "curve_matched_attacks": None,       # attacks of the control (None: curve_attacks)
    "curve_attacks_by_target": {},       # calibration target -> its attacks (default: all)
    "eq10_sigmas": [0.0, 0.25, 0.5, 0.75, 1.0],
    "eq10_steps": 20,
    "eq10_step_ratio": 0.1,
    "surrogate_betas": [1.0, 10.0, 100.0, 1000.0],
}

_SHARED = {   # preset -> the values every data set shares (advsal.datasets adds its own)
    "smoke": {
        **_COMMON,
        "f_train_size": 2000, "f_epochs": 2, "f_batch_size": 64,
        "n_adv_train": 200, "n_adv_test": 100, "n_calib": 100, "n_val": 100,
        "d_epochs": 2, "d_batch_size": 32,
        "cw_steps": 20, "cw_binary_steps": 2, "cw_lr": 0.1,
        "iter_steps": 5,
        "jsma_pairs": False,
        "baseline_attacks": ["iter_linf", "cw_l2"],   # a subset, so the tests see it honoured
        "deepfool_steps": 10,    # 50 took a fifth of the smoke attacks' time (MNIST)
        "peer_attacks": ["iter_linf"], "peer_n_ref": 50, "peer_n_fit": 500,
        "lid_ks": [5, 10, 20], "mahalanobis_noise": [0.0, 0.002],
        "eps_multipliers": [0.5, 1.0, 2.0],
        "adaptive_eps_multipliers": [1.0, 2.0], "adaptive_thresholds": ["logit0", "val5"],
        "adaptive_n": 32, "adaptive_steps": 10, "adaptive_restarts": 2,
        "adaptive_step_ratio": 0.2, "adaptive_anneal_steps": 8,
        "eq10_sigmas": [0.0, 1.0], "eq10_steps": 5, "eq10_step_ratio": 0.3,
        "curve_sizes": [50, "all"], "curve_attacks": ["fgsm"], "curve_matched_sizes": [50],
        "curve_features": ["image+saliency"], "curve_targets": ["section", "table2"],
    },
    "quick": {
        # Sized for a 2-core CPU (README, "Timings"): fewer Table III levels, baselines and
        # adaptive budgets than the paper preset; MNIST at half CIFAR-10's image counts,
        # which leaves MNIST's Table II within its intervals (README).
        **_COMMON,
        "n_adv_train": 1000, "n_adv_test": 500, "n_calib": 300, "n_val": 500,
        "cw_steps": 60, "cw_binary_steps": 3, "cw_lr": 0.1,
        "cw_abort_early": False,     # at 60 steps it stops too soon: mean l_2 0.77 -> 1.02 (CIFAR-10)
        # Untargeted, as cleverhans 2's CarliniWagnerL2 without y_target: random targets
        # cost MNIST's quick C&W a mean l_2 of 2.75 on the images fooling F, above the
        # iterative l_2 budget (README, "Protocol").
        "cw_targeted": False,
        "f_batch_size": 128,         # the paper's; faster per image than 64 on this CPU
        "d_batch_size": 128,         # the paper's
        "eps_multipliers": [0.5, 1.0, 2.0],
        "baseline_attacks": ["iter_linf", "cw_l2"],   # iter_linf: the detectors notebook 08 attacks
        "adaptive_n": 100,
        "adaptive_eps_multipliers": [0.5, 1.0, 2.0],
        "adaptive_thresholds": ["logit0", "val5"],   # val1 is reported in every table, not attacked
        "eq10_steps": 50,            # Eq. 10's best chance: 5 sigmas x 50 steps, best iterate kept
        "curve_features": ["image+saliency"],   # notebook 09 at quick: the paper's input only
    },
    "full": {
        # Every training image on this 2-core CPU (issue 16; README, "The full preset"): F on
        # the whole training split, D on every training image outside the validation slice
        # (n_val) and the peer detectors' images, tested on every test image outside the
        # calibration slice; the quick preset's attack settings. Stages over the training
        # split run in shards of shard_size images, stored compactly, so memory stays bounded.
        **_COMMON,
        "n_adv_test": 9000, "n_calib": 1000, "n_val": 2000,
        "peer_n_fit": 1900,
        "shard_size": 4000,
        # MNIST's full F is so confident that cleverhans' l_2 step normalisation floors the
        # step and the attack stalls (F 0.575 at l_2 = 8); the scaled loss keeps the steps'
        # directions (advsal.attacks.iterative; README, "MNIST at the full preset")
        "iter_l2_loss_scale": 1e10,
        "cw_steps": 60, "cw_binary_steps": 3, "cw_lr": 0.1, "cw_abort_early": False,
        "cw_targeted": False,
        "attacks": ["fgsm", "iter_linf", "iter_l2"],
        # Issue 16: the slow attacks on 10000 training images (at most n_adv_train), when a
        # run adds them to `attacks` (README, "The full preset")
        "attack_train_sizes": {"jsma": 10000, "cw_l2": 10000, "deepfool": 10000},
        "eps_multipliers": [0.5, 1.0, 2.0],
        "baseline_attacks": ["fgsm", "iter_linf"],
        "adaptive_n": 100,
        "adaptive_eps_multipliers": [0.5, 1.0, 2.0],
        "adaptive_thresholds": ["logit0", "val5"],
        "eq10_steps": 50,
        "curve_sizes": [1000, 4000, 16000, "all"],
        "curve_matched_sizes": [16000],
    },
    "paper": {
        **_COMMON,
        "cw_steps": 1000, "cw_binary_steps": 9, "cw_lr": 0.005, "cw_initial_const": 0.01,
        "iter_steps": 20, "n_calib": 1000, "n_val": 2000,
        "adaptive_n": 1000, "adaptive_steps": 200, "adaptive_restarts": 5,
        "adaptive_anneal_steps": 150,
    },
}

# A preset: the shared values, and each data set's entries (advsal.datasets) under its name.
PRESETS = {preset: {**shared, **{ds: dataset_spec(ds).presets[preset] for ds in DATASETS
                                 if preset in dataset_spec(ds).presets}}
           for preset, shared in _SHARED.items()}

# The calibration grid family of each data set (the attacks declare a grid per family).
GRID_FAMILY = {ds: dataset_spec(ds).grid_family for ds in DATASETS}
EPS_GRIDS = {ds: {a: attack_spec(a).eps_grid[fam] for a in EPS_ATTACKS}
             for ds, fam in GRID_FAMILY.items()}

# Numbers printed in the paper, for the tables' "paper" columns, under the paper's data set
# names (dataset_spec(ds).paper_as says which applies).
PAPER_F_ACCURACY = {ds: dataset_spec(ds).paper_f_accuracy for ds in DATASETS
                    if dataset_spec(ds).paper_f_accuracy}
PAPER_TABLE2 = {  # attack -> (f(x_test), f(x_adv), D(x_test), D(x_adv)), from each attack's spec
    ds: {a: attack_spec(a).paper_table2[ds] for a in ATTACKS if ds in attack_spec(a).paper_table2}
    for ds in PAPER_F_ACCURACY}


def paper_values(table: dict, dataset: str) -> dict:
    """``table``'s entry for ``dataset``: the paper's numbers for the data set they apply to
    (Imagenette takes the paper's ImageNet subset), ``{}`` where the paper has none."""
    return table.get(dataset_spec(dataset).paper_as, {})


_DATASET_KEYS = set(DATASETS)


def _choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed; allowed: {list(allowed)}")


def resolve_params(dataset: str, preset: str = "quick", **overrides) -> dict:
    """Flat parameter dict for ``dataset`` at ``preset``, with ``overrides``."""
    _choice("dataset", dataset, DATASETS)
    _choice("preset", preset, tuple(PRESETS))
    base = PRESETS[preset]
    ds_entry = base.get(dataset)
    if ds_entry is None:
        raise ValueError(f"preset={preset!r} has no entry for dataset={dataset!r}; presets "
                         f"with it: {[p for p in PRESETS if dataset in PRESETS[p]]}")
    params = {k: copy.deepcopy(v) for k, v in base.items() if k not in _DATASET_KEYS}
    params.update(copy.deepcopy(ds_entry))
    params["eps_grid"] = copy.deepcopy(EPS_GRIDS[dataset])
    params["eps"] = {}   # attack -> fixed epsilon; attacks not listed are calibrated
    unknown = sorted(set(overrides) - set(params))
    if unknown:
        import difflib
        hints = [f"{u!r}: did you mean {', '.join(repr(m) for m in close)}?" for u in unknown
                 if (close := difflib.get_close_matches(u, params, n=3))]
        raise ValueError(f"unknown parameter(s) {unknown}" + (f" ({'; '.join(hints)})"
                                                              if hints else "")
                         + f"; allowed: {sorted(params)}")
    for key, value in overrides.items():
        if value is not None:
            params[key] = value
    params["dataset"], params["preset"] = dataset, preset
    for key in ("baseline_attacks", "peer_attacks", "curve_attacks"):
        if overrides.get(key) is None:
            # The preset's choice, kept to the attacks this run has (all of them if none is
            # left), so that overriding `attacks` alone never trips the check below.
            chosen = [a for a in params[key] or [] if a in params["attacks"]]
            params[key] = chosen or list(params["attacks"])
    validate(params)
    return params


def validate(params: dict):
    """Check values; raise ``ValueError`` naming the parameter and what is allowed."""
    for a in params["attacks"]:
        _choice("attack", a, ATTACKS)
    for key in ("baseline_attacks", "peer_attacks"):
        for a in params[key]:
            _choice(f"{key} item", a, params["attacks"])
    for name, split in (("attack_train_sizes", "training"), ("attack_test_sizes", "test")):
        sizes = params[name]
        if not isinstance(sizes, dict):
            raise ValueError(f"{name}={sizes!r} must be a dict: attack -> number of {split} "
                             "images")
        for a, n in sizes.items():
            _choice(f"{name} key", a, ATTACKS)
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"{name}[{a!r}]={n!r} must be a positive integer")
    for name in params["peer_detectors"]:
        _choice("peer_detectors item", name, peer_names())
    for key, smallest in (("lid_ks", 1), ("peer_n_ref", 2), ("peer_n_fit", 10)):
        values = params[key] if isinstance(params[key], list) else [params[key]]
        if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < smallest
                             for v in values):
            raise ValueError(f"{key}={params[key]!r} must be integers >= {smallest}")
    if max(params["lid_ks"]) >= params["peer_n_ref"]:
        raise ValueError(f"lid_ks={params['lid_ks']} must stay below "
                         f"peer_n_ref={params['peer_n_ref']}")
    for key, low in (("mahalanobis_noise", 0.0), ("kd_bandwidths", 1e-9)):
        v = params[key]
        if not isinstance(v, list) or not v or any(
                isinstance(a, bool) or not isinstance(a, (int, float)) or a < low for a in v):
            raise ValueError(f"{key}={v!r} must be a non-empty list of numbers >= {low:g}")
    for key, allowed in (("curve_attacks", params["attacks"]), ("curve_features", DETECTOR_FEATURES),
                         ("curve_targets", CALIB_TARGETS)):
        if not isinstance(params[key], list) or not params[key]:
            raise ValueError(f"{key}={params[key]!r} must be a non-empty list")
        for v in params[key]:
            _choice(f"{key} item", v, allowed)
    by_target = params["curve_attacks_by_target"]
    if not isinstance(by_target, dict):
        raise ValueError(f"curve_attacks_by_target={by_target!r} must be a dict: calibration "
                         f"target -> list of attacks")
    for target, attacks in by_target.items():
        _choice("curve_attacks_by_target key", target, CALIB_TARGETS)
        for a in attacks:
            _choice(f"curve_attacks_by_target[{target!r}] item", a, params["curve_attacks"])
    for a in params["curve_matched_attacks"] or []:
        _choice("curve_matched_attacks item", a, params["curve_attacks"])
    if not isinstance(params["curve_matched_sizes"], list) or any(
            isinstance(v, bool) or not isinstance(v, int) or v < 1
            for v in params["curve_matched_sizes"]):
        raise ValueError(f"curve_matched_sizes={params['curve_matched_sizes']!r} must be a list "
                         "of positive integers")
    if not isinstance(params["curve_sizes"], list) or not params["curve_sizes"] or any(
            v != "all" and (isinstance(v, bool) or not isinstance(v, int) or v < 1)
            for v in params["curve_sizes"]):
        raise ValueError(f"curve_sizes={params['curve_sizes']!r} must be a non-empty list of "
                         "positive integers or 'all'")
    _choice("strategy", params["strategy"], STRATEGIES)
    _choice("calib_target", params["calib_target"], CALIB_TARGETS)
    _choice("saliency_norm", params["saliency_norm"], SALIENCY_NORMS)
    _choice("detector_features", params["detector_features"], DETECTOR_FEATURES)
    _choice("adv_quantize", params["adv_quantize"], ADV_QUANTIZE)
    _choice("train_positives", params["train_positives"], TRAIN_POSITIVES)
    _choice("d_select", params["d_select"], D_SELECT)
    for t in params["adaptive_thresholds"]:
        _choice("adaptive_thresholds item", t, ("logit0", "val5", "val1"))
    validate_params(params)   # each attack's own parameters, as its spec declares them
    for key in ("f_train_size", "f_epochs", "f_batch_size", "n_adv_train", "n_adv_test",
                "n_calib", "n_val", "d_epochs", "d_batch_size", "attack_batch_size", "seed"):
        v = params[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < (0 if key == "seed" else 1):
            raise ValueError(f"{key}={v!r} must be a positive integer")
    ft = params["f_finetune"]
    if not isinstance(ft, list) or any(
            not isinstance(ph, (list, tuple)) or len(ph) != 2 or isinstance(ph[0], bool)
            or not isinstance(ph[0], int) or ph[0] < 1 or isinstance(ph[1], bool)
            or not isinstance(ph[1], (int, float)) or not ph[1] > 0 for ph in ft):
        raise ValueError(f"f_finetune={ft!r} must be a list of [epochs, lr] pairs "
                         "(positive integer, positive number)")
    init = params["f_init_weights"]
    if init != "random":
        if dataset_spec(params["dataset"]).network != "vgg16":
            raise ValueError(f"f_init_weights={init!r} needs a VGG16 network; "
                             f"dataset={params['dataset']!r} has none (allowed: 'random')")
        if init != "imagenet" and not (isinstance(init, (str, os.PathLike))
                                       and Path(init).is_file()):
            raise ValueError(f"f_init_weights={init!r} must be 'random', 'imagenet' or the "
                             "path of an existing VGG16 weights file (.keras or .h5)")
    sh = params["shard_size"]
    if sh is not None and (isinstance(sh, bool) or not isinstance(sh, int) or sh < 1):
        raise ValueError(f"shard_size={sh!r} must be None or a positive integer")
    if not isinstance(params["f_augment"], bool):
        raise ValueError(f"f_augment={params['f_augment']!r} must be True or False")
    for key in ("f_lr", "d_lr"):
        v = params[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
            raise ValueError(f"{key}={v!r} must be a positive number")
    rates = params["d_lr_candidates"]
    if not isinstance(rates, list) or len(set(map(str, rates))) < len(rates) or any(
            isinstance(r, bool) or not isinstance(r, (int, float)) or not r > 0 for r in rates):
        raise ValueError(f"d_lr_candidates={rates!r} must be a list of distinct positive "
                         "learning rates ([] for none)")
    by_input = params["d_lr_inputs"]
    if not isinstance(by_input, dict):
        raise ValueError(f"d_lr_inputs={by_input!r} must be a dict input -> learning rate")
    for kind, v in by_input.items():
        _choice("d_lr_inputs key", kind, DETECTOR_FEATURES)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
            raise ValueError(f"d_lr_inputs[{kind!r}]={v!r} must be a positive number")
    if not 0 < params["target_accuracy"] < 1:
        raise ValueError(f"target_accuracy={params['target_accuracy']!r} must be in (0, 1)")
    for attack, eps in params["eps"].items():
        check_eps(attack, eps)
