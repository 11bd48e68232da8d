"""The study's floors: estimated from the parameters, and from the work a run counted."""
import pytest

from advsal.bench import estimate_rows, study_floor
from advsal.cost_estimate import memory_estimate, study_estimate


def test_estimate_counts_every_detector_and_scales_with_the_sizes():
    from advsal.attacks import attack_spec
    from advsal.presets import resolve_params

    p = resolve_params("mnist", "quick")
    e = study_estimate("mnist", "quick")
    n_t3 = sum(attack_spec(a).table3 for a in p["attacks"])
    trained = e[e["stage"].str.startswith("D training") & (e["notebook"] < "08")]
    # 04: one per attack; 05: the other levels of the Table III attacks; 07: the baselines
    assert len(trained) == len(p["attacks"]) + n_t3 * (len(p["eps_multipliers"]) - 1) \
        + len(p["baseline_attacks"]) * (len(p["baseline_features"]) - 1)
    f = e.set_index("stage").loc["F training"]
    assert f["tflop"] == pytest.approx(p["f_train_size"] * p["f_epochs"] * 3 * 39.1e6 / 1e12,
                                       rel=0.01)
    # fixed-step attacks are exact, those that stop per image enter at their bound
    assert set(e.loc[e["bound"], "stage"].str.split().str[1]) >= {"cw_l2", "jsma"}
    assert not e.loc[e["stage"] == "attack fgsm", "bound"].any()
    doubled = study_estimate("mnist", "quick", n_adv_train=2000, n_val=1000, n_adv_test=1000)
    at = e.set_index("stage")["tflop"]
    assert doubled.set_index("stage")["tflop"]["attack iter_linf"] == \
        pytest.approx(2 * at["attack iter_linf"])
    assert doubled.set_index("stage")["tflop"]["D training fgsm"] == \
        pytest.approx(2 * at["D training fgsm"])
    rows = estimate_rows("mnist", peak=100.0, presets=("quick",))
    assert rows[0]["seconds"] == pytest.approx(e["tflop"].sum() * 10)   # 1 TFLOP: 10 s
    mem = memory_estimate("mnist", "full")
    assert mem["one shard of D inputs"] < mem["D training inputs"]


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


def test_study_floors_reads_every_counted_timings_table(tmp_path):
    import pandas as pd

    from advsal.bench import study_floors

    t = pd.DataFrame({"dataset": ["mnist"], "preset": ["quick"], "notebook": ["01_classifier"],
                      "seconds": [30.0], "tflop": [1.0]})
    (tmp_path / "cold").mkdir()
    t.to_csv(tmp_path / "cold" / "timings_quick.csv", index=False)
    t.to_csv(tmp_path / "timings_quick_history.csv", index=False)     # not a latest-run table
    t.drop(columns="tflop").to_csv(tmp_path / "timings_full.csv", index=False)   # no count
    out = study_floors(tmp_path, peak=100.0)
    assert list(out["source"].unique()) == ["cold/timings_quick.csv"]
    assert list(out["ratio_to_floor"]) == [3.0, 3.0]   # the notebook and the whole study
    with pytest.raises(ValueError, match="peak"):
        study_floor(t, peak=0)


@pytest.fixture(scope="module")
def probe_cache(tmp_path_factory):
    """One stage cache for the memory probe's tests: F and the smoke attacks are computed
    once; each test trains detectors of its own (other epochs, sizes or attacks)."""
    return tmp_path_factory.mktemp("probe-cache")


def test_memory_probe_prints_the_peak_after_each_step(probe_cache, data_dir, capsys):
    import re

    from advsal.memory_probe import main

    main(["--dataset", "mnist", "--preset", "smoke", "--attack", "fgsm", "--d-epochs", "1",
          "--data-dir", str(data_dir), "--artefact-dir", str(probe_cache)])
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


def test_memory_probe_repeat_trains_a_detector_per_size_and_prints_resident_memory(
        probe_cache, data_dir, capsys):
    import re

    from advsal.memory_probe import main

    main(["--dataset", "mnist", "--preset", "smoke", "--attack", "fgsm", "--d-epochs", "1",
          "--repeat", "3", "--n-train", "50", "--data-dir", str(data_dir),
          "--artefact-dir", str(probe_cache)])
    out = capsys.readouterr().out
    rows = re.findall(r"D (\d) of 3 \(n_train (\d+), AUC .*\): resident (\d+\.\d\d) GB", out)
    assert [(int(i), int(n)) for i, n, _ in rows] == [(1, 50), (2, 51), (3, 52)], out
    assert all(float(r) > 0 for *_, r in rows) and "detector x3 in" in out


def test_memory_probe_takes_notebook_07_apart_from_the_cache(tmp_path, probe_cache, data_dir,
                                                            capsys):
    """--notebook07 reads every stage from the cache (an empty one stops it, naming the
    stage) and prints the memory after each of notebook 07's steps, computing nothing."""
    import re
    import time

    from advsal.memory_probe import _notebook07, main
    from advsal.pipeline import StageNotCached, Study

    args = ["--dataset", "mnist", "--preset", "smoke", "--notebook07", "--attacks", "fgsm",
            "--data-dir", str(data_dir)]
    with pytest.raises(StageNotCached, match="stage"):
        main(args + ["--artefact-dir", str(tmp_path)])   # an empty cache
    capsys.readouterr()
    args += ["--artefact-dir", str(probe_cache)]
    study = Study("mnist", "smoke", data_dir=data_dir, artefact_dir=probe_cache, progress=False,
                  attacks=["fgsm"])
    _notebook07(study, time.perf_counter())   # what notebook 07 computes, cached
    computed = capsys.readouterr().out
    main(args)
    out = capsys.readouterr().out
    steps = re.findall(r"^(.*): resident (\d+\.\d\d) GB, peak (\d+\.\d\d) GB", out, re.M)
    p = study.params
    assert [s for s, *_ in steps] == [s for s in re.findall(r"^(.*): resident", computed, re.M)]
    assert len(steps) == len(p["baseline_attacks"]) * len(p["baseline_features"]) \
        + len(p["peer_attacks"]) * len(p["peer_detectors"]) + 1, out
    assert steps[0][0] == f"D fgsm {p['baseline_features'][0]}"
    assert all(float(r) > 0 and float(pk) >= float(r) for _, r, pk in steps)


def test_memory_probe_warm_scores_the_presets_detectors_then_trains_its_own(
        probe_cache, data_dir, capsys):
    """--warm scores the attack's input detectors as the preset trains them (what notebook
    07 holds before it trains the next attack's); only the probe's D has --d-epochs."""
    import json

    from advsal.memory_probe import main
    from advsal.presets import resolve_params

    p = resolve_params("mnist", "smoke")
    main(["--dataset", "mnist", "--preset", "smoke", "--attack", "iter_linf", "--warm", "fgsm",
          "--d-epochs", str(p["d_epochs"] + 2), "--data-dir", str(data_dir),
          "--artefact-dir", str(probe_cache)])
    out = capsys.readouterr().out
    assert "fgsm's input detectors scored: resident" in out and "D trained and scored" in out
    trained = {(m["params"]["attack"], m["params"]["features"], m["params"]["d_epochs"])
               for m in (json.loads(f.read_text())
                         for f in (probe_cache / "detector").glob("*.json"))}
    # the cache is shared with the other probe tests: they train FGSM detectors only
    assert {t for t in trained if t[0] == "iter_linf"} == {
        ("iter_linf", p["detector_features"], p["d_epochs"] + 2)}
    assert {("fgsm", k, p["d_epochs"]) for k in p["baseline_features"]} <= trained


def test_memory_probe_fits_peers_anew_and_leaves_the_cache_alone(probe_cache, data_dir,
                                                                  capsys):
    """--peers fits each peer without the stage cache (what it caches, computed again:
    the same scores) and prints the memory after each; an unknown peer stops it first."""
    import re

    import numpy as np

    from advsal.memory_probe import main
    from advsal.peer_study import fit_and_score, peer_scores
    from advsal.pipeline import Study

    args = ["--dataset", "mnist", "--preset", "smoke", "--attack", "iter_linf",
            "--data-dir", str(data_dir), "--artefact-dir", str(probe_cache)]
    with pytest.raises(ValueError, match=r"'nss'.*allowed.*'kd'"):
        main(args + ["--peers", "nss"])
    study = Study("mnist", "smoke", data_dir=data_dir, artefact_dir=probe_cache,
                  progress=False)
    cached = peer_scores(study, "kd", "iter_linf")
    before = sorted((probe_cache / "peer").iterdir())
    capsys.readouterr()
    main(args + ["--peers", "kd", "lid"])
    out = capsys.readouterr().out
    assert re.findall(r"^peer (\w+) fitted on iter_linf and scored: resident \d+\.\d\d GB, "
                      r"peak \d+\.\d\d GB", out, re.M) == ["kd", "lid"], out
    assert sorted((probe_cache / "peer").iterdir()) == before       # nothing written
    summary = next(line for line in out.splitlines() if line.startswith("reused"))
    assert "peer" not in summary, summary                              # nothing read
    again = fit_and_score(study, "kd", "iter_linf")
    for k in ("val_clean", "test_clean", "test_adv", "val_auc"):
        np.testing.assert_array_equal(again[k], cached[k])
