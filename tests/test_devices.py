"""The ``strategy`` parameter: one device, or MirroredStrategy over two logical CPU devices
(the paper preset, at a handful of images: what a user with several GPUs would run).

TensorFlow splits a CPU into logical devices only before its runtime starts, so the
mirrored study runs in a fresh interpreter with ``ADVSAL_CPU_DEVICES=2``."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from advsal.devices import make_strategy, run_split
from advsal.presets import resolve_params

_SCRIPT = r"""
import json, sys
import numpy as np
import advsal
import tensorflow as tf
from advsal.attacks import craft
from advsal.devices import make_strategy, run_split
from advsal.networks import build_classifier
from advsal.pipeline import Study
from advsal.saliency import saliency

data_dir, art = sys.argv[1], sys.argv[2]
out = {"cpu_devices": len(tf.config.list_logical_devices("CPU"))}
sizes = dict(attacks=["fgsm"], f_train_size=1000, f_epochs=1, n_adv_train=200, n_val=100,
             n_adv_test=100, n_calib=100, d_epochs=2)
for name in ("none", "mirrored"):
    s = Study("mnist", "paper", data_dir=data_dir, artefact_dir=f"{art}/{name}",
              progress=False, strategy=name, **sizes)
    rep = s.evaluate("fgsm")
    out[name] = {"replicas": s.strategy.num_replicas_in_sync,
                 "f_test": s.classifier_info()["test_accuracy"],
                 "fgsm_success": s.attack_stats("fgsm", "test")["success_rate"],
                 "auc": rep["auc"], "tpr": rep["tpr"], "tnr": rep["tnr"]}
# one model, its batches computed whole and split across the two replicas
x = s.images("test")[0][:300]
f = s.classifier()
whole = {"logits": f(x, training=False).numpy(), "saliency": saliency(f, x, "none"),
         "fgsm": craft(f, "fgsm", x, 0.2, s.params, progress=False)[0]}
with make_strategy("mirrored").scope():
    split = {"logits": run_split(lambda b: f(b, training=False), x),
             "saliency": saliency(f, x, "none"),
             "fgsm": craft(f, "fgsm", x, 0.2, s.params, progress=False)[0]}
out["split_max_abs_diff"] = {k: float(np.max(np.abs(whole[k] - split[k]))) for k in whole}
print("RESULT " + json.dumps(out))
"""


def test_strategy_parameter_is_checked():
    assert resolve_params("mnist", "smoke")["strategy"] == "none"
    with pytest.raises(ValueError, match=r"strategy='tpu'.*allowed.*'none', 'mirrored'"):
        resolve_params("mnist", "smoke", strategy="tpu")
    with pytest.raises(ValueError, match="strategy"):
        make_strategy("multiworker")


def test_run_split_on_one_device_is_one_call():
    calls = []
    out = run_split(lambda a, b: calls.append(len(a)) or a + b, np.ones(5), np.arange(5.0))
    assert calls == [5]
    np.testing.assert_array_equal(out, np.arange(5.0) + 1)


def test_mirrored_on_two_logical_cpus_matches_one_device(tmp_path, data_dir):
    env = dict(os.environ, ADVSAL_CPU_DEVICES="2", PYTHONUNBUFFERED="1")
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(data_dir), str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=900)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    out = json.loads(lines[0][len("RESULT "):])
    assert out["cpu_devices"] == 2
    assert out["none"]["replicas"] == 1 and out["mirrored"]["replicas"] == 2
    # split batches: the same logits, saliency and FGSM images up to float rounding
    diff = out["split_max_abs_diff"]
    assert diff["logits"] < 1e-4 and diff["saliency"] < 1e-4, diff
    assert diff["fgsm"] <= 1 / 255 + 1e-6, diff   # a sign may flip where the gradient is ~0
    # training on two replicas: the same study up to float rounding (stated tolerances)
    a, b = out["none"], out["mirrored"]
    assert abs(a["f_test"] - b["f_test"]) <= 0.01, (a, b)
    assert abs(a["fgsm_success"] - b["fgsm_success"]) <= 0.03, (a, b)
    for k in ("auc", "tpr", "tnr"):
        assert abs(a[k] - b[k]) <= 0.05, (k, a, b)
