"""The attacks on a classifier F (Step 1 of Section III), one module per attack.

Each attack is a plain function ``attack(model, x, ...) -> x_adv`` of a Keras
model that outputs logits and a float32 NHWC batch in [0, 1]; all keep
``x_adv`` inside [0, 1]. Each module declares its :class:`AttackSpec` (label,
norm, budget, parameters, calibration grid, ...); :func:`craft` runs any
registered attack over a whole array in fixed-size batches (the last batch
padded, so each compiled function is traced once) with a progress bar.

=========== =========================================================== ========
attack      what                                                        budget
=========== =========================================================== ========
fgsm        FGSM on F's *predicted* label (no label leaking)            l_inf eps
iter_linf   iterative FGSM (BIM, Kurakin et al.), l_inf projection       l_inf eps
iter_l2     iterative FGM with l_2-normalised steps, l_2 projection      l_2 eps
iter_l1     extra: sparse l_1 descent with l_1-ball projection           l_1 eps
jsma        Papernot et al.'s JSMA, pairs of features, increasing        gamma
cw_l2       Carlini & Wagner L2 with binary search over c, kappa        --
deepfool    extra: DeepFool (Moosavi-Dezfooli et al.), l_2               --
=========== =========================================================== ========

The two iterative attacks call cleverhans 4 (``cleverhans.tf2``), wrapped in
``tf.function``; FGSM is written here in one forward and one backward pass and
tested equal to cleverhans 4's. cleverhans 4 has no JSMA and no DeepFool, and
its ``carlini_wagner_l2`` is broken under Keras 3 (it calls
``optimizer.variables()``, a property there; its ``const`` has the image's
shape, so it fails on 3-channel inputs and scales c per pixel on MNIST; and
it adds ``confidence`` to every logit, so kappa never acts on the success
check: cleverhans issue 1205). JSMA, C&W L2 and DeepFool are therefore
implemented here, following the original papers, and cross-checked in the
tests (JSMA and DeepFool against the Adversarial Robustness Toolbox, C&W
against a plain eager transcription).
"""
from .spec import (NON_NEGATIVE, NORMS, POSITIVE, AttackSpec, attack_defaults, attack_names,
                   attack_spec, budget_attacks, check_eps, register, validate_params)
from .common import (STEP_TOLERANCE, STEP_TOLERANCE_V2, linf_steps, predict, quantize_8bit,
                     quantize_tf, random_targets)
# Registration order is the order of the tables' rows.
from .fgsm import fgsm
from .iterative import iterative
from .jsma import jsma, jsma_accuracy_curve, jsma_pool
from .cw_l2 import cw_l2
from .iter_l1 import iter_l1
from .deepfool import deepfool
from .driver import attack_stats, craft, distortions, stats_from_distortions

__all__ = ["AttackSpec", "attack_defaults", "attack_names", "attack_spec", "budget_attacks",
           "check_eps", "register", "validate_params", "POSITIVE", "NON_NEGATIVE", "NORMS",
           "predict", "quantize_8bit", "quantize_tf", "linf_steps", "STEP_TOLERANCE",
           "STEP_TOLERANCE_V2",
           "random_targets", "fgsm", "iterative", "jsma", "jsma_accuracy_curve", "jsma_pool",
           "cw_l2", "iter_l1", "deepfool", "attack_stats", "craft", "distortions",
           "stats_from_distortions"]
