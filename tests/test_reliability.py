"""Reliability: identical reruns, resumption after a kill, no unsafe loading."""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(attacks=["iter_l2"], f_train_size=1000, n_adv_train=100, n_adv_test=60,
             n_calib=60, f_epochs=1, d_epochs=1)


def _table(artefacts, data_dir):
    from advsal.pipeline import Study
    from advsal.tables import table2

    study = Study("mnist", "smoke", data_dir=data_dir, artefact_dir=artefacts, progress=False,
                  **SMALL)
    return table2(study)


def test_same_seed_gives_identical_table2(tmp_path, data_dir):
    a = _table(tmp_path / "a", data_dir)
    b = _table(tmp_path / "b", data_dir)
    cols = ["eps", "f(x_test)", "f(x_adv)", "D(x_test)", "D(x_adv)", "AUC"]
    np.testing.assert_array_equal(a[cols].to_numpy(float), b[cols].to_numpy(float))


_SCRIPT = """
import sys
from advsal.pipeline import Study
s = Study("mnist", "smoke", data_dir=sys.argv[1], artefact_dir=sys.argv[2], progress=False,
          attacks=["iter_l2"], f_train_size=2000, f_epochs=int(sys.argv[3]), n_adv_train=100,
          n_adv_test=60, n_calib=60, d_epochs=1)
s.classifier(); print("F-done", flush=True)
s.adversarial("iter_l2", "train", 2.0); print("ADV-done", flush=True)
"""


def _run(args, kill_after=None, wait_for=None):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-c", _SCRIPT, *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if wait_for:        # kill as soon as a marker line appears
        for line in proc.stdout:
            if wait_for in line:
                proc.send_signal(signal.SIGKILL)
                break
    elif kill_after:
        time.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=600)
    return proc.returncode, out


def test_killed_runs_resume_and_recompute_only_what_is_unfinished(tmp_path, data_dir):
    art = tmp_path / "art"
    # 1. killed during F's training (a long run): nothing is left that looks complete
    rc, _ = _run([data_dir, art, 30], kill_after=12)
    assert rc == -signal.SIGKILL
    assert not list((art / "classifier").glob("*.keras")) if (art / "classifier").exists() else True
    # 2. killed right after F was written, during the attack
    rc, _ = _run([data_dir, art, 1], wait_for="F-done")
    f_files = list((art / "classifier").glob("*.keras"))
    assert len(f_files) == 1 and f_files[0].with_suffix(".json").exists()
    mtime = f_files[0].stat().st_mtime_ns
    assert not list((art / "adversarial").glob("*.npz")) if (art / "adversarial").exists() else True
    # 3. rerun: F is reused (not retrained), the attack completes
    rc, out = _run([data_dir, art, 1])
    assert rc == 0 and "ADV-done" in out
    assert f_files[0].stat().st_mtime_ns == mtime
    # the attack's raw (float) output and its 8-bit version, derived from it
    assert len(list((art / "adversarial").glob("*.npz"))) == 2


def test_no_unsafe_deserialisation_in_library():
    for path in (ROOT / "lib" / "advsal").glob("*.py"):
        src = path.read_text()
        assert "allow_pickle=True" not in src, path
        assert not re.search(r"\bpickle\.load|\beval\(|\bexec\(", src), path
        assert "safe_mode=False" not in src, path
        for call in re.findall(r"np\.load\([^)]*\)", src):
            assert "allow_pickle=False" in call, (path, call)


def test_runner_rejects_wrong_parameter_types():
    from advsal.runner import _check_types, run_study

    with pytest.raises(TypeError, match=r"seed='1' must be of type int"):
        _check_types({"seed": "1"})
    with pytest.raises(ValueError, match=r"dataset='svhn'.*allowed"):
        run_study(["svhn"], "smoke")
    with pytest.raises(ValueError, match=r"preset='big'.*allowed"):
        run_study(["mnist"], "big")


def test_runs_never_write_the_committed_results_unless_asked(monkeypatch, tmp_path):
    """A notebook or runner without figures_dir writes into runs/figures; "figures"
    (from any folder of the checkout) is the committed results, on purpose only."""
    from advsal.paths import committed_figures, repo_root, resolve_dirs

    root = repo_root()
    monkeypatch.delenv("ADVSAL_FIGURES_DIR", raising=False)
    monkeypatch.setenv("ADVSAL_ARTEFACT_DIR", str(tmp_path / "art"))
    for cwd in (root, root / "notebooks"):       # the runner, and JupyterLab
        monkeypatch.chdir(cwd)
        assert repo_root() == root
        _, _, fig = resolve_dirs()
        assert fig == root / "runs" / "figures" != committed_figures()
        assert resolve_dirs(figures_dir="figures")[2] == committed_figures()
