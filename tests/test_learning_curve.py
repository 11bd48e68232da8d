"""The learning curve's verdict (advsal.learning_curve.trend) and its sizes."""
import pandas as pd
import pytest


def _curve(points, kind="image+saliency"):
    rows = [{"calib_target": "section", "attack": "fgsm", "eps": 0.0157, "features": kind,
             "n_train": n, "auc": a, "auc_ci_low": lo, "auc_ci_high": hi}
            for n, a, lo, hi in points]
    return pd.DataFrame(rows)


def test_trend_claims_a_rise_only_where_intervals_separate():
    from advsal.learning_curve import trend

    rises = trend(_curve([(16000, 0.80, 0.78, 0.82), (1000, 0.55, 0.52, 0.58)]))
    assert len(rises) == 1 and "rises (intervals separate)" in rises[0]
    assert "0.550 [0.520, 0.580] at n=1000 -> 0.800 [0.780, 0.820] at n=16000" in rises[0]
    assert "clear of chance" in rises[0]
    flat = trend(_curve([(1000, 0.52, 0.48, 0.56), (16000, 0.55, 0.53, 0.57)]))
    assert "does not change beyond its intervals" in flat[0]
    chance = trend(_curve([(1000, 0.50, 0.47, 0.53), (16000, 0.51, 0.49, 0.53)]))
    assert "not distinguishable from chance" in chance[0]
    falls = trend(_curve([(1000, 0.70, 0.68, 0.72), (16000, 0.60, 0.58, 0.62)]))
    assert "falls" in falls[0]


def test_trend_states_every_curve():
    from advsal.learning_curve import trend

    both = pd.concat([_curve([(1000, 0.6, 0.5, 0.7), (2000, 0.6, 0.5, 0.7)]),
                      _curve([(1000, 0.6, 0.5, 0.7), (2000, 0.6, 0.5, 0.7)], "saliency")])
    assert [line.split(",")[1].strip() for line in trend(both)] == ["image+saliency", "saliency"]


def test_curve_sizes_resolve_all_and_reject_out_of_range(tmp_path, data_dir):
    from advsal.learning_curve import curve_sizes
    from advsal.pipeline import Study

    st = Study("mnist", "smoke", data_dir=data_dir, artefact_dir=tmp_path, progress=False)
    assert curve_sizes(st, [100, "all", 50]) == [50, 100, 200]
    with pytest.raises(ValueError, match="n_adv_train=200"):
        curve_sizes(st, [100, 500])
    limited = Study("mnist", "smoke", data_dir=data_dir, artefact_dir=tmp_path, progress=False,
                    attack_train_sizes={"cw_l2": 80})
    assert curve_sizes(limited, [50, "all"], "cw_l2") == [50, 80]
    assert curve_sizes(limited, [50, "all"], "fgsm") == [50, 200]
    with pytest.raises(ValueError, match=r"not in \[1, 80\]"):
        curve_sizes(limited, [100], "cw_l2")


def _point(n, auc, lo, hi, epochs=None):
    row = {"calib_target": "section", "attack": "iter_linf", "eps": 0.0118,
           "features": "image+saliency", "n_train": n, "auc": auc, "auc_ci_low": lo,
           "auc_ci_high": hi}
    return {**row, "d_epochs": epochs} if epochs else row


def test_steps_verdict_separates_steps_from_data():
    from advsal.learning_curve import steps_verdict

    curve = pd.DataFrame([_point(16000, 0.71, 0.70, 0.72), _point(46000, 0.997, 0.996, 0.998)])
    say = lambda auc, lo, hi: steps_verdict(   # noqa: E731
        curve, pd.DataFrame([_point(16000, auc, lo, hi, 14)]))[0]
    assert "steps, not data" in say(0.996, 0.995, 0.997)
    assert "both steps and data" in say(0.90, 0.89, 0.91)
    assert "number of images limits" in say(0.71, 0.70, 0.72)
    flat = pd.DataFrame([_point(16000, 0.99, 0.98, 1.0), _point(46000, 0.99, 0.98, 1.0)])
    assert "already matched" in steps_verdict(flat, pd.DataFrame([_point(16000, 0.99, 0.98, 1.0,
                                                                         14)]))[0]


def test_matched_epochs_scale_with_the_training_set(tmp_path, data_dir):
    from advsal.learning_curve import matched_epochs
    from advsal.pipeline import Study

    st = Study("mnist", "smoke", data_dir=data_dir, artefact_dir=tmp_path, progress=False,
               d_epochs=5, n_adv_train=200)
    assert matched_epochs(st, 50) == 20 and matched_epochs(st, 200) == 5
    with pytest.raises(ValueError, match="curve_matched_sizes"):
        matched_epochs(st, 500)
