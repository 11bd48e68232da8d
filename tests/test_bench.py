"""The benchmark's floors: training alone from the preset, every stage from the counted work."""
import pytest

from advsal.bench import study_floor, training_floor


def test_training_floor_follows_the_preset():
    from advsal.presets import resolve_params

    quick = training_floor("mnist", (28, 28, 1), peak=100.0)
    n_attacks = len(resolve_params("mnist", "quick")["attacks"])
    # notebook 04 (one per attack), 05 (3 attacks x 2 more levels), 07 (2 attacks x 3 more inputs)
    assert quick["detectors"] == n_attacks + 3 * 2 + 2 * 3
    smoke = training_floor("mnist", (28, 28, 1), peak=100.0, preset="smoke")
    assert smoke["seconds_at_peak"] < quick["seconds_at_peak"] / 10
    halved = training_floor("mnist", (28, 28, 1), peak=200.0)
    assert halved["seconds_at_peak"] == pytest.approx(quick["seconds_at_peak"] / 2)


def test_study_floor_sets_wall_time_against_counted_work():
    import pandas as pd

    t = pd.DataFrame({"dataset": ["mnist"] * 3 + ["cifar10"], "preset": "quick",
                      "notebook": ["01_classifier", "02_adversarial", "03_saliency", "01_classifier"],
                      "seconds": [20.0, 50.0, 9.0, 30.0], "stages_computed": [1, 4, 0, 1],
                      "tflop": [2.0, 1.0, float("nan"), 3.0]})
    out = study_floor(t, peak=100.0).set_index(["dataset", "notebook"])
    assert out.loc[("mnist", "01_classifier"), "floor_seconds"] == pytest.approx(20.0)
    assert out.loc[("mnist", "02_adversarial"), "ratio_to_floor"] == pytest.approx(5.0)
    assert ("mnist", "03_saliency") not in out.index          # no count: left out
    whole = out.loc[("mnist", "whole study")]
    assert whole["seconds"] == 70.0 and whole["ratio_to_floor"] == pytest.approx(70 / 30)
    assert out.loc[("cifar10", "whole study"), "ratio_to_floor"] == pytest.approx(1.0)
    assert study_floor(t.drop(columns="tflop"), 100.0).empty
    with pytest.raises(ValueError, match="peak"):
        study_floor(t, peak=0)


def test_memory_probe_prints_the_peak_after_each_step(tmp_path, data_dir, capsys):
    import re

    from advsal.memory_probe import main

    main(["--dataset", "mnist", "--preset", "smoke", "--attack", "fgsm", "--d-epochs", "1",
          "--data-dir", str(data_dir), "--artefact-dir", str(tmp_path)])
    out = capsys.readouterr().out
    peaks = [float(v) for v in re.findall(r"peak (\d+\.\d\d) GB", out)]
    assert len(peaks) == 3 and 0 < peaks[0] <= peaks[1] <= peaks[2], out
    assert "D trained and scored (AUC" in out and "detector x1 in" in out


def test_stage_scaling_runs_each_stage_and_counts_its_work():
    from advsal.stage_scaling import STAGES, measure_all, run_stage

    one = run_stage("mnist", "attack fgsm", 64)
    assert one["seconds"] > 0 and one["peak_memory_gb"] >= one["memory_after_setup_gb"] > 0
    assert one["tflop"] == pytest.approx(64 * 2 * 39.1e6 / 1e12, rel=0.01)
    rows = measure_all(["mnist"], ["32"], peak=100.0, stages=["saliency", STAGES[-1]])
    assert list(rows["stage"]) == ["saliency", STAGES[-1]]
    assert (rows["images"] == 32).all() and (rows["seconds_per_1000"] > 0).all()
    with pytest.raises(ValueError, match="allowed"):
        run_stage("mnist", "lunch", 8)
