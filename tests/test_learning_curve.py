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
