import numpy as np
import pytest

from advsal.metrics import detection_report, roc_auc, tpr_at_fpr, wilson_interval


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    lo, hi = wilson_interval(100, 100)
    assert hi == 1.0 and lo == pytest.approx(0.9630, abs=1e-4)


def test_auc():
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert roc_auc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert roc_auc([0, 1], [0.5, 0.5]) == 0.5
    rng = np.random.default_rng(0)
    assert roc_auc(rng.integers(0, 2, 4000), rng.random(4000)) == pytest.approx(0.5, abs=0.03)


def test_tpr_at_fpr():
    neg = np.arange(100)            # scores 0..99
    pos = np.array([94.5, 95.5, 200])
    labels = np.r_[np.zeros(100), np.ones(3)]
    # at most 5 negatives (95..99) may exceed the threshold 94
    assert tpr_at_fpr(labels, np.r_[neg, pos], 0.05) == pytest.approx(1.0)
    assert tpr_at_fpr(labels, np.r_[neg, pos], 0.0) == pytest.approx(1 / 3)


def test_detection_report():
    r = detection_report(np.array([-1.0, -2, 3]), np.array([2.0, 1, -1, 4]))
    assert r["tnr"] == pytest.approx(2 / 3) and r["tpr"] == pytest.approx(3 / 4)
    assert r["accuracy"] == pytest.approx(5 / 7)
    assert r["tnr_ci"][0] < r["tnr"] < r["tnr_ci"][1]
