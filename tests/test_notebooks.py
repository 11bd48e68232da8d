"""Every notebook, executed headless through the study runner (papermill) at
the smoke preset, writes its tables with the expected shape and values; and a
table re-derived from the cached artefacts equals the one written."""
import numpy as np
import pandas as pd
import pytest

from advsal.presets import resolve_params
from advsal.runner import notebooks

pytestmark = pytest.mark.slow

TABLE2_COLUMNS = ["eps", "f(x_test)", "f(x_adv)", "D(x_test)", "D(x_adv)", "balanced acc", "AUC",
                 "TPR@val5%", "test FPR@val5%", "TPR@val1%", "test FPR@val1%",
                 "n_clean", "n_adv (fooled F)", "paper D(x_test)", "paper D(x_adv)"]


# At the smoke preset: the path to Table II on CIFAR-10 (its loader, network and channels),
# on Imagenette F and the attacks (its image-folder loader and VGG16-F; VGG16-D is built in
# test_registry). MNIST's path is the paper preset's run of every notebook with a handful of
# images (conftest.paper_run), checked here with the same tests (a smoke run of 01-04 on
# MNIST as well cost CI about two minutes and checked nothing more); notebooks 05-09 are
# the same code for every data set (05 names its table Table IV on the ImageNet-level
# sets). Keeps CI short.
NOTEBOOKS = {"cifar10": ["01", "02", "03", "04"], "imagenette": ["01", "02"]}


@pytest.fixture(scope="module", params=list(NOTEBOOKS))
def smoke_run(request, tmp_path_factory, data_dir):
    from advsal.runner import run_study

    root = tmp_path_factory.mktemp(f"study-{request.param}")
    only = NOTEBOOKS[request.param]
    run_study([request.param], "smoke", output=root / "runs", data_dir=data_dir,
              artefact_dir=root / "artefacts", figures_dir=root / "figures", only=only)
    return request.param, root


def _needs_table2(dataset):
    if "04" not in (NOTEBOOKS[dataset] or ["04"]):
        pytest.skip(f"notebook 04 (Table II) is not run on {dataset} in CI")


def _paper_params():
    from conftest import HANDFUL

    return resolve_params("mnist", "paper", **HANDFUL)


def test_table2_has_expected_rows_columns_and_values(smoke_run):
    dataset, root = smoke_run
    _needs_table2(dataset)
    _check_table2(root / "figures", dataset, resolve_params(dataset, "smoke"))


def test_table2_at_the_paper_preset(paper_run):
    _check_table2(paper_run[1] / "figures", "mnist", _paper_params())


def _check_table2(fig, dataset, params):
    t2 = pd.read_csv(fig / f"table2_{dataset}.csv", index_col=0)
    assert list(t2.index) == params["attacks"]
    for col in TABLE2_COLUMNS:
        assert col in t2.columns
    rates = t2[["f(x_test)", "f(x_adv)", "D(x_test)", "D(x_adv)", "AUC", "TPR@val5%"]]
    assert rates[["f(x_test)", "f(x_adv)", "D(x_test)"]].notna().all().all()
    # AUC and TPR@5%FPR are undefined (empty) where no adversarial image fooled the
    # smoke-size F; every defined value is a rate
    values = rates.stack().dropna()
    assert len(values) >= 3 * len(t2) and ((values >= 0) & (values <= 1)).all()
    # no attack raises F's accuracy by more than one image: one that F got wrong can land on
    # its right class after the 8-bit rounding (seen: the paper's C&W cut to 10 steps, 1 of 30)
    n_test = min([params["n_adv_test"], *params["attack_test_sizes"].values()])
    assert (t2["f(x_adv)"] <= t2["f(x_test)"] + 1 / n_test + 1e-9).all()
    if (t2["f(x_test)"] > 0.3).all():   # an F at the 30 % target already cannot show the drop
        assert (t2["f(x_adv)"] < t2["f(x_test)"]).any()
    for ext in (".md", ".tex", ".meta.json"):
        assert (fig / f"table2_{dataset}{ext}").exists()


def _products(dataset, ran):
    t3_name = f"table4_{dataset}" if dataset == "imagenette" else f"table3_{dataset}"
    products = {"01": [f"f_training_{dataset}.png"], "02": [f"attacks_{dataset}.csv"],
                "03": [f"fig1_{dataset}.png", f"fig1_{dataset}.pdf"], "04": [f"roc_{dataset}.png"],
                "05": [f"{t3_name}.csv"], "06": [f"fig2_{dataset}.png", f"fig2_{dataset}.csv"],
                "07": [f"baselines_{dataset}.csv", f"detectors_{dataset}.png"],
                "08": [f"adaptive_{dataset}.csv", f"adaptive_{dataset}.png"],
                "09": [f"learning_curve_{dataset}.csv", f"learning_curve_{dataset}.png"]}
    return [n for nb in ran for n in products[nb]]


def _check_products_and_timings(dataset, preset, root, ran):
    """Each notebook's products exist; each run is in the timing history with its peak
    memory; the timings say which notebooks computed stages and counted their work."""
    fig = root / "figures"
    for name in [f"timings_{preset}.csv"] + _products(dataset, ran):
        assert (fig / name).exists(), name
    executed = sorted((root / "runs" / preset / dataset).glob("*.ipynb"))
    assert len(executed) == len(ran)
    history = pd.read_csv(fig / f"timings_{preset}_history.csv")
    mine = history[history["dataset"] == dataset]
    assert sorted(mine["notebook"]) == [p.stem for p in executed]
    assert (mine["peak_memory_gb"] > 0.1).all() and (mine["seconds"] > 0).all()
    # a first run computes F in 01 and two sets per attack in 02 ...
    timings = pd.read_csv(fig / f"timings_{preset}.csv")
    mine = timings[timings["dataset"] == dataset].set_index("notebook")
    assert (mine["seconds"] > 0).all()
    assert mine.loc["01_classifier", "stages_computed"] >= 1
    n_attacks = len(resolve_params(dataset, preset)["attacks"]) if preset == "smoke" else 1
    assert mine.loc["02_adversarial", "stages_computed"] >= 2 * n_attacks
    # ... and counted the arithmetic it did (advsal.work): F's training in 01, the attacks in
    # 02; a notebook that computed nothing counted little
    assert mine.loc["01_classifier", "tflop"] > 0 and mine.loc["02_adversarial", "tflop"] > 0
    assert mine["tflop"].notna().all()


def test_every_notebook_product_exists(smoke_run):
    dataset, root = smoke_run
    _check_products_and_timings(dataset, "smoke", root, NOTEBOOKS[dataset])


def test_every_notebook_product_exists_at_the_paper_preset(paper_run):
    _, root = paper_run
    _check_products_and_timings("mnist", "paper", root, [p.stem[:2] for p in notebooks()])


def test_generalisation_tables_have_their_shape(paper_run):
    """Table III (05) and Fig. 2 (06) on MNIST at the paper preset: four budget levels
    per Table III attack, one row and column per attack. A cell is empty (NaN) where no
    adversarial image of the handful fooled F (its TPR is undefined); every defined cell
    is a rate."""
    from advsal.attacks import attack_spec

    fig = paper_run[1] / "figures"
    params = _paper_params()
    levels = len(params["eps_multipliers"])
    n_t3 = sum(attack_spec(a).table3 for a in params["attacks"])
    t3 = pd.read_csv(fig / "table3_mnist.csv", index_col=0)
    acc = t3[[c for c in t3.columns if " test " in c]]
    assert levels == 4 and acc.shape == (levels, n_t3 * levels)
    assert acc.stack().dropna().between(0, 1).all() and acc.notna().any().any()
    n = len(params["attacks"])
    f2 = pd.read_csv(fig / "fig2_mnist.csv", index_col=0)
    assert f2.shape == (n, n) and f2.stack().dropna().between(0, 1).all()


def test_table2_rederived_from_artefacts(smoke_run, data_dir):
    """RobustBench-style: recompute the table from the saved models and sets."""
    from advsal.pipeline import Study

    dataset, root = smoke_run
    _needs_table2(dataset)
    _rederive_table2(Study(dataset, "smoke", data_dir=data_dir,
                           artefact_dir=root / "artefacts", progress=False), root / "figures")


def test_table2_rederived_from_artefacts_at_the_paper_preset(paper_run, data_dir):
    from advsal.pipeline import Study
    from conftest import HANDFUL

    root = paper_run[1]
    _rederive_table2(Study("mnist", "paper", data_dir=data_dir, artefact_dir=root / "artefacts",
                           progress=False, **HANDFUL), root / "figures")


def _rederive_table2(study, fig):
    from advsal.tables import table2

    again = table2(study)
    written = pd.read_csv(fig / f"table2_{study.dataset}.csv", index_col=0)
    for col in ("f(x_test)", "f(x_adv)", "D(x_test)", "D(x_adv)", "AUC"):
        np.testing.assert_allclose(again[col].to_numpy(float), written[col].to_numpy(float),
                                   atol=1e-4)


def test_beyond_the_paper_tables(paper_run):
    """Notebooks 07 and 08 on MNIST at the paper preset: baselines, peers, adaptive attack."""
    root = paper_run[1]
    base = pd.read_csv(root / "figures" / "baselines_mnist.csv")
    p = _paper_params()
    assert list(dict.fromkeys(base["attack"])) == p["baseline_attacks"]
    assert len(base) == len(p["baseline_attacks"]) * len(p["baseline_features"])
    # each input at every learning rate of d_lr_candidates, one kept per attack and input
    by_rate = pd.read_csv(root / "figures" / "baselines_lr_mnist.csv")
    assert len(by_rate) == len(base) * len(p["d_lr_candidates"])
    kept = by_rate[by_rate["chosen"]]
    assert len(kept) == len(base)
    lowest = by_rate.groupby(["attack", "detector"])["val loss"].min()
    assert (kept.set_index(["attack", "detector"])["val loss"].sort_index()
            == lowest.sort_index()).all()
    # one row per attack and detector: D, the baselines trained for it, every peer
    det = pd.read_csv(root / "figures" / "detectors_mnist.csv")
    assert list(dict.fromkeys(det["attack"])) == p["peer_attacks"]
    peers = det[det["kind"] == "peer"]
    assert sorted(peers["detector"]) == sorted(p["peer_detectors"] * len(p["peer_attacks"]))
    # a handful of images: an attack that fooled F on none leaves its peers unfitted (a
    # row without AUC); every fitted peer has its AUC and chosen hyperparameter
    fitted = peers[peers["AUC"].notna()]
    assert len(fitted) and det["AUC"].dropna().between(0, 1).all()
    assert fitted["hyperparameter"].notna().all()
    assert (root / "figures" / "detectors_mnist.png").exists()
    adaptive = pd.read_csv(root / "figures" / "adaptive_mnist.csv")
    rates = adaptive.dropna(subset=["rate"])
    assert len(rates) and rates[["rate", "ci_low", "ci_high"]].stack().between(0, 1).all()
    assert (rates["ci_low"] <= rates["rate"]).all() and (rates["rate"] <= rates["ci_high"]).all()
    assert (root / "figures" / "adaptive_mnist.png").exists()
    # the strongest peer under the same attacker, at every budget and attacked threshold
    ap = pd.read_csv(root / "figures" / "adaptive_peer_mnist.csv")
    assert ap["rate"].dropna().between(0, 1).all()
    assert set(ap["threshold"]) == set(p["adaptive_thresholds"])
    assert ap["attack"].str.contains(r"\(adaptive\)").any()


def test_a_run_with_default_folders_changes_no_tracked_file(paper_run, data_dir, monkeypatch):
    """Issue 18 point 1: an interactive run (default figures folder) never overwrites the
    committed results: notebook 01 (its F read from paper_run's cache) leaves every tracked
    file as it was."""
    import subprocess

    from advsal.paths import repo_root
    from advsal.runner import run_study
    from conftest import HANDFUL

    root = paper_run[1]
    repo = repo_root()
    if not (repo / ".git").exists():
        pytest.skip("not a git checkout")

    def tracked_state():
        return subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                              capture_output=True, text=True, check=True).stdout

    monkeypatch.delenv("ADVSAL_FIGURES_DIR", raising=False)
    before = tracked_state()
    run_study(["mnist"], "paper", output=root / "runs-default", data_dir=data_dir,
              artefact_dir=root / "artefacts", only=["01"], overrides=HANDFUL)
    assert tracked_state() == before
    assert (repo / "runs" / "figures" / "f_accuracy_mnist.csv").exists()


def test_report_links_every_notebook_table_and_figure(smoke_run, tmp_path):
    from advsal.report import build_report

    dataset, root = smoke_run
    index = build_report(root / "runs", root / "figures", tmp_path / "report")
    page = index.read_text()
    for nb in sorted((root / "runs" / "smoke" / dataset).glob("*.ipynb")):
        href = f"notebooks/smoke/{dataset}/{nb.stem}.html"
        assert href in page and (tmp_path / "report" / href).stat().st_size > 10_000
    for f in list((root / "figures").glob("*.csv")) + list((root / "figures").glob("*.png")):
        assert f"figures/{f.name}" in page and (tmp_path / "report" / "figures" / f.name).exists()
