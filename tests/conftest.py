"""Test setup: data from ../shared/data (the offline copies), downloads off."""
import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
os.environ.setdefault("ADVSAL_DATA_DIR", str(SHARED))
os.environ["ADVSAL_OFFLINE"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DATA_DIR = Path(os.environ["ADVSAL_DATA_DIR"])


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


def accuracy(model, x, y):
    from advsal.attacks import predict

    return float(np.mean(predict(model, x).argmax(1) == y))
