"""Test setup: data from ../shared/data (the offline copies), downloads off."""
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
os.environ.setdefault("ADVSAL_DATA_DIR", str(SHARED))
os.environ["ADVSAL_OFFLINE"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DATA_DIR = Path(os.environ["ADVSAL_DATA_DIR"])


# `make test` runs the suite on two pytest-xdist workers, each taking a whole test file at a
# time in its order (`--dist loadfile`: files share module fixtures and caches, and the
# paper-preset run is one session fixture used by test_paper_preset alone). The two files
# that run notebooks, the longest, go first (the paper preset's first) so that neither is
# left for the end. Not `--dist loadgroup`: with pytest 9.2 it silently ignores its groups
# (pytest-xdist issue 1386).
NOTEBOOK_FILES = ("test_paper_preset.py", "test_notebooks.py")


def pytest_collection_modifyitems(items):
    order = {name: i for i, name in enumerate(NOTEBOOK_FILES)}
    items.sort(key=lambda item: order.get(item.path.name, len(order)))   # stable


@pytest.fixture(scope="session")
def data_dir():
    if not (DATA_DIR / "mnist.npz").exists():
        pytest.fail(f"offline data not found at {DATA_DIR}; set ADVSAL_DATA_DIR")
    return DATA_DIR


@pytest.fixture(scope="session")
def mnist(data_dir):
    from advsal.datasets import load_dataset

    return load_dataset("mnist", data_dir)


@pytest.fixture(scope="session")
def trained_f(mnist):
    """A smoke-size MNIST-NET-F: 3000 images, 2 epochs (a few seconds)."""
    from advsal.networks import build_classifier
    from advsal.reproducibility import seed_everything
    from advsal.training import train_classifier

    seed_everything(0)
    model = build_classifier("mnist", (28, 28, 1))
    train_classifier(model, mnist.x_train[:3000], mnist.y_train[:3000], epochs=2, lr=1e-3,
                     batch_size=64, seed=0)
    return model


@pytest.fixture(scope="session")
def attack_batch(mnist, trained_f):
    """64 test images that the smoke F classifies correctly."""
    from advsal.attacks import predict

    x, y = mnist.x_test[:200], mnist.y_test[:200]
    ok = predict(trained_f, x).argmax(1) == y
    return x[ok][:64], y[ok][:64]


@pytest.fixture(scope="session")
def cached_f(tmp_path_factory, data_dir):
    """F trained once per parameter set for the whole session: ``seed(root, **params)``
    copies it into the artefact folder ``root``, for tests whose subject comes after F
    (those of F's training, of reruns and of resumption train their own)."""
    base = tmp_path_factory.mktemp("f-cache")

    def seed(root, dataset="mnist", preset="smoke", **params):
        from advsal.pipeline import Study

        st = Study(dataset, preset, data_dir=data_dir, artefact_dir=base, progress=False,
                   **params)
        src = st.store.path("classifier", st.f_key, "keras")
        if not src.with_suffix(".json").exists():
            st.classifier()
        dest = Path(root) / "classifier"
        dest.mkdir(parents=True, exist_ok=True)
        for path in (src, src.with_suffix(".json")):
            shutil.copy2(path, dest / path.name)
        return Path(root)

    return seed


# The paper preset at a handful of images: sizes, epochs and step counts, and the attack
# lists; every other value is the paper preset's. The attacks: those notebooks 08 and 09
# need, and the paper's C&W (JSMA's pairs are tested in test_attacks). Notebooks 07 and 09
# run one attack each (the paper preset runs every attack in 07, two in 09): each attack
# there costs a detector per input and learning rate, most of it Keras tracing, and the
# loops over attacks are the same code (the quick preset's committed runs go through two).
HANDFUL = {"f_train_size": 1000, "f_epochs": 1, "n_adv_train": 60, "n_val": 30,
           "n_adv_test": 30, "n_calib": 30, "d_epochs": 1, "cw_steps": 10,
           "peer_n_ref": 10, "peer_n_fit": 60, "lid_ks": [3, 5], "adaptive_n": 4,
           "adaptive_steps": 3, "adaptive_restarts": 2, "adaptive_anneal_steps": 2,
           "eq10_steps": 2, "curve_sizes": [30, "all"], "d_lr_candidates": [1e-4, 1e-3],
           "attacks": ["fgsm", "iter_linf", "cw_l2"], "baseline_attacks": ["iter_linf"],
           "peer_attacks": ["iter_linf"], "curve_attacks": ["fgsm"]}


@pytest.fixture(scope="session")
def paper_run(tmp_path_factory, data_dir):
    """Every notebook on MNIST at the paper preset with :data:`HANDFUL`'s sizes, through
    the runner (papermill); returns (timing rows, root folder). Notebooks 05-09 on MNIST
    are tested on this run only, and it is MNIST's path to Table II in test_notebooks."""
    from advsal.runner import run_study

    root = tmp_path_factory.mktemp("paper-handful")
    rows = run_study(["mnist"], "paper", output=root / "runs", data_dir=data_dir,
                     artefact_dir=root / "artefacts", figures_dir=root / "figures",
                     overrides=HANDFUL)
    return rows, root


def accuracy(model, x, y):
    from advsal.attacks import predict

    return float(np.mean(predict(model, x).argmax(1) == y))
