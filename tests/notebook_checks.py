"""Checks of a study run through the runner (tables, products, timings), shared by the
smoke-preset tests (test_notebooks) and the paper-preset ones (test_paper_preset)."""
import numpy as np
import pandas as pd

from advsal.presets import resolve_params

TABLE2_COLUMNS = ["eps", "f(x_test)", "f(x_adv)", "D(x_test)", "D(x_adv)", "balanced acc", "AUC",
                 "TPR@val5%", "test FPR@val5%", "TPR@val1%", "test FPR@val1%",
                 "n_clean", "n_adv (fooled F)", "paper D(x_test)", "paper D(x_adv)"]


def paper_params():
    from conftest import HANDFUL

    return resolve_params("mnist", "paper", **HANDFUL)


def check_table2(fig, dataset, params):
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


def products(dataset, ran):
    t3_name = f"table4_{dataset}" if dataset == "imagenette" else f"table3_{dataset}"
    products = {"01": [f"f_training_{dataset}.png"], "02": [f"attacks_{dataset}.csv"],
                "03": [f"fig1_{dataset}.png", f"fig1_{dataset}.pdf"], "04": [f"roc_{dataset}.png"],
                "05": [f"{t3_name}.csv"], "06": [f"fig2_{dataset}.png", f"fig2_{dataset}.csv"],
                "07": [f"baselines_{dataset}.csv", f"detectors_{dataset}.png"],
                "08": [f"adaptive_{dataset}.csv", f"adaptive_{dataset}.png"],
                "09": [f"learning_curve_{dataset}.csv", f"learning_curve_{dataset}.png"]}
    return [n for nb in ran for n in products[nb]]


def check_products_and_timings(dataset, preset, root, ran):
    """Each notebook's products exist; each run is in the timing history with its peak
    memory; the timings say which notebooks computed stages and counted their work."""
    fig = root / "figures"
    for name in [f"timings_{preset}.csv"] + products(dataset, ran):
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


def rederive_table2(study, fig):
    from advsal.tables import table2

    again = table2(study)
    written = pd.read_csv(fig / f"table2_{study.dataset}.csv", index_col=0)
    for col in ("f(x_test)", "f(x_adv)", "D(x_test)", "D(x_adv)", "AUC"):
        np.testing.assert_allclose(again[col].to_numpy(float), written[col].to_numpy(float),
                                   atol=1e-4)
