"""The protocol behind every verdict: disjoint subsets, calibration, the
counting rule, validation thresholds, 8-bit images, across-seed summaries and
the tables' indexing, each on a case small enough to check by hand."""
import numpy as np
import pandas as pd
import pytest

from advsal.attacks import attack_stats, quantize_8bit
from advsal.metrics import (across_seeds, detection_report, rates_at, t_interval,
                            threshold_at_fpr)
from advsal.seeds import seed_dir, summarise
from advsal.tables import balanced_ci, cross_attack, table3
from advsal.verdicts import (above_chance, compare, cross_attack_pairs, defence_status,
                             separation)


# ------------------------------------------------------------------ subsets
@pytest.fixture(scope="module")
def smoke_study(tmp_path_factory, data_dir):
    from advsal.pipeline import Study

    return Study("mnist", "smoke", data_dir=data_dir,
                 artefact_dir=tmp_path_factory.mktemp("art"), progress=False)


def test_detector_subsets_are_pairwise_disjoint(smoke_study):
    s, p = smoke_study.subsets, smoke_study.params
    train, val = set(s["adv_train"]), set(s["val"])
    test, calib = set(s["test"]), set(s["calib"])
    assert (len(train), len(val), len(test), len(calib)) == (
        p["n_adv_train"], p["n_val"], p["n_adv_test"], p["n_calib"])
    assert not train & val            # both index the training split
    assert not test & calib           # both index the test split
    # the validation images are training images, never test images
    xv, _ = smoke_study.images("val")
    xt, _ = smoke_study.images("test")
    assert not {a.tobytes() for a in xv} & {a.tobytes() for a in xt}


def test_subsets_too_large_name_the_parameter(data_dir, tmp_path):
    from advsal.pipeline import Study

    st = Study("mnist", "smoke", data_dir=data_dir, artefact_dir=tmp_path, progress=False,
               n_adv_train=59990, n_val=100)
    with pytest.raises(ValueError, match=r"n_adv_train \+ n_val=60090 exceeds"):
        st.subsets


# ------------------------------------------------------------------ calibration
def test_calibration_returns_smallest_grid_eps_below_target(tmp_path, data_dir, monkeypatch):
    from advsal import attacks as atk
    from advsal.pipeline import Study

    st = Study("mnist", "smoke", data_dir=data_dir, artefact_dir=tmp_path, progress=False,
               attacks=["fgsm"])
    x, y = st.images("calib")
    acc_of = {0.025 * i: max(0.0, 1.0 - 0.09 * i) for i in range(1, 21)}   # 0.3 reached at i=8
    calls = []

    def fake_craft(model, attack, xx, eps, params, seed=0, progress=True):
        calls.append(round(eps, 3))
        return xx, {}

    def fake_predict(model, xx, batch_size=1024):
        eps = calls[-1]
        k = int(round(acc_of[min(acc_of, key=lambda e: abs(e - eps))] * len(y)))
        logits = np.zeros((len(xx), 10), np.float32)
        right = np.arange(len(xx)) < k
        logits[right, y[right]] = 1.0
        logits[~right, (y[~right] + 1) % 10] = 1.0
        return logits

    monkeypatch.setattr(atk, "craft", fake_craft)
    monkeypatch.setattr(atk, "predict", fake_predict)
    monkeypatch.setattr(Study, "classifier", lambda self: None)
    cal = st.calibration("fgsm")
    # accuracies 1 - 0.09 i: i = 8 gives 0.28 < 0.3, i = 7 gives 0.37
    assert cal["eps"] == pytest.approx(0.2)
    below = [e for e, a in cal["tried"] if a < 0.3]
    above = [e for e, a in cal["tried"] if a >= 0.3]
    assert min(below) == pytest.approx(0.2) and max(above) < 0.2
    assert len(calls) < 20        # a binary search, not a scan


# ------------------------------------------------------------------ counting rule
def test_fooled_mask_counts_only_images_f_got_right_and_now_gets_wrong(smoke_study,
                                                                         monkeypatch):
    fake = {"y": np.array([0, 1, 2, 3]), "pred_clean": np.array([0, 1, 9, 3]),
            "pred_adv": np.array([5, 1, 7, 9])}
    monkeypatch.setattr(type(smoke_study), "adversarial", lambda self, *a, **k: fake)
    assert smoke_study.fooled_mask("fgsm").tolist() == [True, False, False, True]


# ------------------------------------------------------------------ thresholds and rates
def test_threshold_at_fpr_flags_at_most_that_share_of_clean_scores():
    clean = np.arange(200, dtype=float)
    t5, t1 = threshold_at_fpr(clean, 0.05), threshold_at_fpr(clean, 0.01)
    assert np.mean(clean > t5) == pytest.approx(0.05) and np.mean(clean > t1) == pytest.approx(0.01)
    assert t1 > t5
    assert np.mean(clean > threshold_at_fpr(clean, 0.0)) == 0.0
    with pytest.raises(ValueError, match="fpr"):
        threshold_at_fpr(clean, 1.0)


def test_balanced_accuracy_and_validation_thresholds_by_hand():
    clean, adv = np.array([-3.0, -1, 0.5, 2]), np.array([1.0, 3, -2])
    r = rates_at(clean, adv, 0.0)
    assert (r["tnr"], r["tpr"]) == (0.5, pytest.approx(2 / 3))
    assert r["balanced_accuracy"] == pytest.approx((0.5 + 2 / 3) / 2)
    rep = detection_report(clean, adv, scores_val_clean=np.arange(100.0) / 100)
    # val5: the 95th smallest of 0..0.99 -> 0.94; test clean above it: 0.5? no, 2 yes
    assert rep["at"]["val5"]["threshold"] == pytest.approx(0.94)
    assert rep["at"]["val5"]["tnr"] == 0.75 and rep["at"]["val5"]["tpr"] == pytest.approx(2 / 3)
    lo, hi = balanced_ci(rep["at"]["logit0"])
    assert lo < rep["balanced_accuracy"] < hi


# ------------------------------------------------------------------ 8-bit images
def test_quantize_8bit_lands_on_grid_inside_the_budget():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (5, 4, 4, 1)) / 255.0
    eps = 0.175          # 44.6 / 255: rounding up would leave the ball
    xa = np.clip(x + rng.uniform(-eps, eps, x.shape), 0, 1)
    x[0, 0, 0, 0], xa[0, 0, 0, 0] = 0.0, eps     # 44.6 steps: rounds to 45, must stay at 44
    q = quantize_8bit(x, xa, linf_eps=eps)
    assert q.dtype == np.float32
    assert np.allclose(q * 255, np.rint(q * 255), atol=1e-4)
    assert np.abs(q - x).max() <= eps + 1e-6 and q.min() >= 0 and q.max() <= 1
    assert q[0, 0, 0, 0] == np.float32(44 / 255)
    assert np.abs(quantize_8bit(x, xa) - xa).max() <= 0.5 / 255 + 1e-6   # no budget: nearest


@pytest.mark.parametrize("k", range(1, 33))
def test_grid_budgets_written_to_5_decimals_give_their_whole_steps(k):
    """The CIFAR-10 grid holds k/255 to 5 decimals (3/255 as 0.01176, 2.9988 steps): the
    budget is k steps, in NumPy and TensorFlow, never k - 1 (the bug before v2 keys)."""
    from advsal.attacks import linf_steps, quantize_tf

    eps = round(k / 255, 5)
    assert linf_steps(eps) == k
    x = np.zeros((1, 1, 1, 1), np.float32)
    xa = np.full_like(x, 0.5)
    assert quantize_8bit(x, xa, linf_eps=eps)[0, 0, 0, 0] == np.float32(k / 255)
    assert float(quantize_tf(xa, x, np.float32(eps))[0, 0, 0, 0]) == pytest.approx(k / 255)
    # and the image stays inside the written budget to within the tolerance
    assert k / 255 - eps <= 2e-3 / 255
    # multiples of a grid value (Table III, adaptive budgets) read as the intended steps
    assert linf_steps(2 * eps) == 2 * k and linf_steps(0.5 * eps) == k // 2


# ------------------------------------------------------------------ distortion
def test_distortion_is_over_images_that_fool_f():
    class M:   # a "model" whose logits are the first 3 pixels
        def __call__(self, z, training=False):
            import tensorflow as tf
            return tf.reshape(z, (len(z), -1))[:, :3]

    x = np.zeros((3, 1, 3, 1), np.float32)
    x[:, 0, 0, 0] = 1.0                      # F says class 0 on every clean image
    xa = x.copy()
    xa[0, 0, 1, 0] = 2.0                     # fooled, l2 = 2
    xa[1, 0, 1, 0] = 0.5                     # not fooled, l2 = 0.5
    xa[2, 0, 2, 0] = 3.0                     # fooled, l2 = 3
    st = attack_stats(M(), x, xa, np.zeros(3, int))
    assert st["success_rate"] == pytest.approx(2 / 3)
    assert st["l2_mean_success"] == pytest.approx(2.5) and st["l2_median_success"] == 2.5
    assert st["l2_mean"] == pytest.approx(5.5 / 3)


# ------------------------------------------------------------------ tables' indexing
class _Hand:
    """A stand-in Study: evaluate(a, b, eps_fit, eps_test) returns a known cell."""

    params = {"attacks": ["fgsm", "jsma"], "eps_multipliers": [0.5, 1.0, 2.0]}

    def eps(self, attack):
        return 0.1

    def evaluate(self, det_attack, test_attack=None, det_eps=None, test_eps=None,
                 features=None):
        test_attack = test_attack or det_attack
        if det_eps is None:   # Fig. 2: trained on fgsm catches everything, jsma nothing
            v = 1.0 if det_attack == "fgsm" else 0.5
        else:                 # Table III: cell = fit level + test level / 10
            v = det_eps * 10 + test_eps
        return {"balanced_accuracy": v, "auc": v, "at": {"logit0": {
            "tnr_ci": (v - 0.1, v), "tpr_ci": (v - 0.1, v)}, "val5": {"tpr": v}}}


def test_fig2_rows_are_trained_on_columns_tested_on():
    m = cross_attack(_Hand())
    assert m.index.name == "trained on" and m.columns.name == "tested on"
    assert m.loc["fgsm", "jsma"] == 1.0 and m.loc["jsma", "fgsm"] == 0.5


def test_table3_rows_are_fit_levels_columns_test_levels():
    t, levels = table3(_Hand(), "fgsm")
    assert levels == [0.05, 0.1, 0.2]
    assert t.loc[1, 3] == pytest.approx(0.05 * 10 + 0.2)     # fit level 1, test level 3
    assert t.loc[3, 1] == pytest.approx(0.2 * 10 + 0.05)
    with pytest.raises(ValueError, match="metric='x' is not allowed"):
        table3(_Hand(), "fgsm", metric="x")


# ------------------------------------------------------------------ verdict logic
def test_claims_need_separated_intervals():
    assert separation((0.8, 0.9), (0.5, 0.7)) == 1
    assert separation((0.5, 0.7), (0.8, 0.9)) == -1
    assert separation((0.5, 0.85), (0.8, 0.9)) == 0
    assert separation((0.85, 0.95), (0.8, 0.9)) == 0     # overlapping, though higher
    assert "not distinguishable" in compare("a", 0.7, (0.5, 0.85), "b", 0.85, (0.8, 0.9))
    assert "is higher than" in compare("a", 0.85, (0.8, 0.9), "b", 0.6, (0.5, 0.7))
    assert above_chance((0.56, 0.7)) and not above_chance((0.54, 0.9))
    assert defence_status(0.6, 0.9) == "falls" and defence_status(0.0, 0.05) == "holds"
    assert defence_status(0.2, 0.6) == "mixed"


def test_fig2_pairs_are_stated_one_by_one_never_averaged():
    att = ["fgsm", "iter_linf", "jsma"]
    v = pd.DataFrame([[1.0, 0.6, 0.5], [1.0, 1.0, 0.5], [0.99, 0.6, 1.0]], att, att)
    lines = cross_attack_pairs(v, v - 0.03, v + 0.03)
    assert len(lines) == 2           # iter_linf vs fgsm, iter_linf vs jsma
    assert "iter_linf->fgsm 1.000" in lines[0] and "is higher than fgsm->iter_linf" in lines[0]
    assert "iter_linf->jsma 0.500" in lines[1] and "is lower than" in lines[1]
    assert "near chance: iter_linf->jsma" in lines[1]


# ------------------------------------------------------------------ across seeds
def test_across_seed_summary_by_hand(tmp_path):
    m, (lo, hi) = t_interval([0.8, 0.9, 1.0])
    assert m == pytest.approx(0.9)
    # t(0.975, 2) = 4.303; sd 0.1; half width 4.303 * 0.1 / sqrt(3)
    assert hi - m == pytest.approx(4.3027 * 0.1 / 3 ** 0.5, rel=1e-3)
    s = across_seeds([0.8, 0.9, 1.0])
    assert s["ci_high"] == 1.0 and s["min"] == 0.8 and s["n_seeds"] == 3
    frames = {k: pd.DataFrame({"attack": ["a", "b"], "AUC": [0.5 + k / 10, 0.9]})
              for k in range(3)}
    out = summarise(frames, ["attack"], ["AUC"]).set_index("attack")
    assert out.loc["a", "mean"] == pytest.approx(0.6) and out.loc["b", "sd"] == 0.0
    assert out.loc["a", "per seed"] == "0.5 0.6 0.7"
    assert seed_dir(tmp_path, 0) == tmp_path and seed_dir(tmp_path, 2) == tmp_path / "seed2"


def test_table3_pairs_mirror_cells():
    from advsal.verdicts import table3_pairs

    v = pd.DataFrame([[1.0, 0.99], [0.6, 1.0]], index=[1, 2], columns=[1, 2])
    lines = table3_pairs(v, v - 0.02, v + 0.02, [0.1, 0.2])
    assert len(lines) == 1
    assert "fit 0.1 -> test 0.2 0.990" in lines[0] and "is higher than fit 0.2 -> test 0.1" in lines[0]


# ------------------------------------------------------------------ public detector API
def test_score_images_equals_the_cached_scores(smoke_study):
    """Scoring images crafted elsewhere goes through D's own input path."""
    st, kind = smoke_study, smoke_study.params["detector_features"]
    xa = st.adversarial("fgsm", "test")["x_adv"]
    d = st.detector("fgsm")
    np.testing.assert_allclose(st.score_images(xa, "fgsm"), st.scores(d, kind, "fgsm"),
                               atol=1e-5)
    thr = st.thresholds("fgsm")
    assert set(thr) == {"logit0", "val5", "val1"} and all(np.isfinite(list(thr.values())))
    with pytest.raises(ValueError, match="the study's images are"):
        st.score_images(xa[..., :0], "fgsm")


def test_cache_only_study_raises_instead_of_computing(smoke_study, data_dir, tmp_path):
    from advsal.pipeline import Study, StageNotCached

    empty = Study("mnist", "smoke", data_dir=data_dir, artefact_dir=tmp_path, progress=False,
                  cache_only=True)
    with pytest.raises(StageNotCached, match="'classifier' is not in the cache"):
        empty.classifier()
    warm = Study("mnist", "smoke", data_dir=data_dir, artefact_dir=smoke_study.store.root,
                 progress=False, cache_only=True)
    assert warm.detector("fgsm") is not None             # trained above: read, not retrained
    with pytest.raises(StageNotCached, match="'calibration' is not in the cache"):
        warm.eps("iter_l2")
    assert not any(tmp_path.iterdir())


def test_peer_comparison_claims_a_direction_only_where_auc_intervals_separate():
    from advsal.verdicts import peer_comparison

    def rows(d_auc, d_ci, p_auc, p_ci):
        return pd.DataFrame(
            [{"attack": "a", "detector": "image+saliency", "kind": "paper's D", "AUC": d_auc,
              "AUC 95% CI": d_ci},
             {"attack": "a", "detector": "lid", "kind": "peer", "AUC": 0.6, "AUC 95% CI": (0.55, 0.65)},
             {"attack": "a", "detector": "kd", "kind": "peer", "AUC": p_auc, "AUC 95% CI": p_ci}]
        ).set_index("attack")

    ahead = peer_comparison(rows(0.9, (0.88, 0.92), 0.7, (0.65, 0.75)), "image+saliency")
    assert "by `image+saliency`" in ahead[0] and "best peer (kd)" in ahead[0]
    assert "is higher than" in ahead[0]
    tied = peer_comparison(rows(0.72, (0.68, 0.76), 0.7, (0.65, 0.75)), "image+saliency")
    assert "not distinguishable" in tied[0]
    # a peer that could not be fitted (NothingToFit: its row has no AUC) is left out
    unfit = rows(0.9, (0.88, 0.92), 0.7, (0.65, 0.75))
    unfit.iloc[2, unfit.columns.get_loc("AUC")] = np.nan
    unfit.iloc[2, unfit.columns.get_loc("AUC 95% CI")] = np.nan
    assert "best peer (lid)" in peer_comparison(unfit, "image+saliency")[0]
    none = unfit.copy()
    none.iloc[1, none.columns.get_loc("AUC 95% CI")] = np.nan
    none.iloc[1, none.columns.get_loc("AUC")] = np.nan
    assert "no peer could be fitted" in peer_comparison(none, "image+saliency")[0]


def test_at_training_budget_reads_only_the_training_budget_rows():
    from advsal.verdicts import at_training_budget

    t = pd.DataFrame([
        {"attack": "kd (adaptive)", "eps": 0.01, "eps / calibrated": 1.0, "threshold": "val5",
         "rate": 0.8, "ci_low": 0.7, "ci_high": 0.9},
        {"attack": "kd (adaptive)", "eps": 0.005, "eps / calibrated": 0.5, "threshold": "val5",
         "rate": 0.02, "ci_low": 0.0, "ci_high": 0.05},
        {"attack": "kd (adaptive)", "eps": 0.01, "eps / calibrated": 1.0, "threshold": "logit0",
         "rate": 0.05, "ci_low": 0.01, "ci_high": 0.08}]).set_index("attack")
    lines = at_training_budget(t, "kd (adaptive)")
    assert len(lines) == 2 and "defence **falls**" in lines[0] and "defence **holds**" in lines[1]
    assert at_training_budget(t, "lid (adaptive)") == []


def test_paper_gaps_reads_a_perfect_rate_as_inside_its_interval():
    """All 7479 images right: Wilson's upper end is 1 up to float rounding, and the
    paper's 1.00 lies inside it (not "0.000 above")."""
    from advsal.metrics import wilson_interval
    from advsal.verdicts import paper_gaps

    full = wilson_interval(7479, 7479)
    assert full[1] < 1.0   # the case the tolerance is for
    t2 = pd.DataFrame({"D(x_test)": [1.0], "D(x_test) 95% CI": [full],
                       "paper D(x_test)": [1.00], "D(x_adv)": [0.9, ],
                       "D(x_adv) 95% CI": [wilson_interval(900, 1000)],
                       "paper D(x_adv)": [0.99]}, index=["fgsm"])
    lines = paper_gaps(t2)
    assert "inside our 95 % interval" in lines[0], lines
    assert "below the paper's 0.99" in lines[1], lines


def test_a_collapsed_detector_is_named_not_compared():
    """A detector that scores every test image on one side of logit 0 with an AUC at
    chance (CIFAR-10's pixels-only D at full size) failed to train: the verdict names it
    and leaves it out of the saliency-versus-pixels comparison."""
    from advsal.verdicts import collapsed, input_comparison

    rng = np.random.default_rng(0)
    val = rng.normal(size=2000)

    def report(clean, adv):
        return detection_report(clean, adv, scores_val_clean=val)

    flat = report(-5 + 0.01 * rng.normal(size=3000), -5 + 0.01 * rng.normal(size=2000))
    good = report(rng.normal(-2, 1, 3000), rng.normal(2, 1, 2000))
    weak = report(rng.normal(-0.3, 1, 3000), rng.normal(0.3, 1, 2000))
    # every image one side of 0, but the scores rank the adversarial ones higher: not collapsed
    ranked = report(rng.normal(-5, 0.1, 3000), rng.normal(-4, 0.1, 2000))
    assert collapsed(flat) and not collapsed(good) and not collapsed(weak)
    assert not collapsed(ranked) and ranked["tpr"] == 0.0 and ranked["auc"] > 0.99
    kinds = ["image", "saliency", "image+saliency"]
    line, = input_comparison({("fgsm", "image"): flat, ("fgsm", "saliency"): weak,
                              ("fgsm", "image+saliency"): good}, ["fgsm"], kinds)
    assert "collapsed" in line and "pixels only (AUC" in line
    assert "is higher than" not in line and "the others" not in line
    line, = input_comparison({("fgsm", "image"): weak, ("fgsm", "saliency"): weak,
                              ("fgsm", "image+saliency"): good}, ["fgsm"], kinds)
    assert "collapsed" not in line and "is higher than pixels only" in line
    assert "best AUC" in line and "`image+saliency`" in line


def test_a_sibling_changes_only_how_d_trains_and_keeps_its_own_reports(smoke_study):
    """Study.sibling shares the stages in memory; the memo of evaluate() is keyed by the
    detector's whole key, so a sibling at another learning rate gets its own detector's
    report, not the first one's."""
    with pytest.raises(ValueError, match="d_lr, d_lr_inputs, d_epochs, d_batch_size.*n_val"):
        smoke_study.sibling(n_val=3)
    other = smoke_study.sibling(d_lr=smoke_study.params["d_lr"] * 10)
    assert other._memory is smoke_study._memory and other.params["d_lr"] != smoke_study.params["d_lr"]
    a, b = smoke_study.evaluate("fgsm"), other.evaluate("fgsm")
    assert not np.array_equal(a["scores_clean"], b["scores_clean"])
    assert smoke_study.evaluate("fgsm") is a


def test_a_study_that_keeps_nothing_in_memory_gives_the_same_numbers(smoke_study):
    """advsal.memory_cache: with memory_gb=0 every stage and detector is read again from
    the disk cache when asked for (only F stays), and the report is the same."""
    from advsal.pipeline import Study

    lean = Study("mnist", "smoke", data_dir=smoke_study.data_dir,
                 artefact_dir=smoke_study.store.root, progress=False, memory_gb=0)
    a, b = smoke_study.evaluate("iter_linf"), lean.evaluate("iter_linf")
    for k in ("scores_clean", "scores_adv", "auc"):
        np.testing.assert_array_equal(a[k], b[k])
    assert a["at"]["val5"] == b["at"]["val5"]
    assert list(lean._memory._items) == ["F"] and lean._memory.evictions > 0
    assert "iter_linf" in str(list(smoke_study._memory._items))


def test_training_a_detector_first_lets_go_of_the_large_stages_in_memory(smoke_study,
                                                                          monkeypatch):
    """A D is trained on rows read from the disk cache; the stages held in memory from
    attacks scored before are let go first (MemoryCache.drop_large), and only when a D
    is trained, not when it is read from the cache."""
    from advsal.memory_cache import MemoryCache

    calls = []
    real = MemoryCache.drop_large
    monkeypatch.setattr(MemoryCache, "drop_large",
                        lambda self, *a, **k: calls.append(self) or real(self, *a, **k))
    sib = smoke_study.sibling(d_epochs=smoke_study.params["d_epochs"] + 2)   # a D of its own
    sib.detector("fgsm", features="image")
    assert calls == [sib._memory]
    sib.release_detector("fgsm", features="image")
    sib.detector("fgsm", features="image")   # read from the cache: nothing dropped
    assert len(calls) == 1


def test_history_table_reads_each_detectors_own_training_record(smoke_study):
    """advsal.learning_rate.history_table (notebook 08's detector_history table): one row
    per epoch of each input's D, at that input's own rate; the validation loss of the
    kept epoch is the one D was kept at, the kept epoch is that loss's minimum."""
    from advsal.learning_rate import history_table

    kinds = ["image", "saliency"]
    study = smoke_study.sibling(d_lr_inputs={"saliency": 3e-2})
    table = history_table(study, "fgsm", kinds)
    assert list(table.index.unique()) == kinds
    for kind, part in table.groupby(level=0):
        info = study.store.meta("detector", study.detector_key("fgsm", study.eps("fgsm"), kind),
                                "keras")
        hist = info["history"]
        assert list(part["epoch"]) == list(range(1, smoke_study.params["d_epochs"] + 1))
        assert list(part["train loss"]) == hist["loss"]
        assert list(part["val loss"]) == hist["select_loss"]
        assert part["kept"].sum() == 1
        assert part.loc[part["kept"], "val loss"].iloc[0] == min(hist["select_loss"])
        assert set(part["d_lr"]) == {study.d_lr(kind)}
        assert set(part["D train s"]) == {info["train_seconds"]}
    assert set(table.loc["saliency", "d_lr"]) == {3e-2}


def test_rate_table_keeps_each_inputs_lowest_validation_loss(smoke_study):
    """advsal.learning_rate: one chosen rate per attack and input, the one whose kept
    detector has the lowest loss on the validation slice (recomputed here from the
    detector's logits), and the chosen reports are that detector's."""
    import keras

    from advsal.learning_rate import chosen_rates, chosen_reports, rate_table

    kinds, rates = ["image", "saliency"], [1e-3, 3e-2]
    table = rate_table(smoke_study, ["fgsm"], kinds, rates)
    assert len(table) == len(kinds) * len(rates)
    eps = smoke_study.eps("fgsm")
    for kind, part in table.groupby("detector"):
        assert part["chosen"].sum() == 1
        assert part.loc[part["chosen"], "val loss"].iloc[0] == part["val loss"].min()
        for _, r in part.iterrows():
            sib = smoke_study.sibling(d_lr=r["d_lr"])
            xv, lv = sib._labelled_set(kind, "val", "fgsm", eps, rows=True)
            logits = sib.detector("fgsm", features=kind)(xv.take(np.arange(len(xv))),
                                                         training=False)
            bce = keras.losses.BinaryCrossentropy(from_logits=True)
            assert float(bce(lv.astype("float32")[:, None], logits)) == pytest.approx(
                r["val loss"], rel=1e-4)
    chosen = chosen_reports(smoke_study, table)
    assert set(chosen) == {("fgsm", k) for k in kinds}
    # notebook 08's detectors: the same choice, and a study that trains each input at it
    rates = chosen_rates(smoke_study, "fgsm", kinds, rates)
    assert rates == {k: table[table["chosen"] & (table["detector"] == k)]["d_lr"].iloc[0]
                     for k in kinds}
    base = 5e-3   # none of the candidates: each key must take its input's own rate
    kept = smoke_study.sibling(d_lr=base, d_lr_inputs=rates)
    for kind in kinds + ["image+saliency"]:
        rate = rates.get(kind, base)
        assert kept.detector_key("fgsm", eps, kind) == \
            smoke_study.sibling(d_lr=rate).detector_key("fgsm", eps, kind)
        if kind in rates:
            assert kept.detector("fgsm", features=kind) is \
                smoke_study.sibling(d_lr=rate).detector("fgsm", features=kind)
    for (attack, kind), rep in chosen.items():
        row = table[table["chosen"] & (table["detector"] == kind)].iloc[0]
        assert rep["auc"] == row["AUC"] or (np.isnan(rep["auc"]) and np.isnan(row["AUC"]))
