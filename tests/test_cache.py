import warnings

import numpy as np
import pytest

from advsal.cache import ArtefactStore, CorruptArtefactWarning, make_key


def test_key_is_order_independent_and_sensitive():
    assert make_key({"a": 1, "b": [1, 2]}) == make_key({"b": [1, 2], "a": 1})
    assert make_key({"a": 1}) != make_key({"a": 2})


def test_cache_returns_identical_arrays_without_recomputing(tmp_path):
    store = ArtefactStore(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.random.default_rng(len(calls)).random((5, 3)).astype(np.float32)}

    a = store.cached_arrays("stage", {"p": 1}, compute)
    b = store.cached_arrays("stage", {"p": 1}, compute)
    assert len(calls) == 1
    np.testing.assert_array_equal(a["x"], b["x"])
    store.cached_arrays("stage", {"p": 2}, compute)
    assert len(calls) == 2


def test_corrupt_or_unmarked_artefact_is_rebuilt(tmp_path):
    store = ArtefactStore(tmp_path)
    store.save_arrays("s", {"p": 1}, {"x": np.arange(10)})
    path = store.path("s", {"p": 1}, "npz")
    path.write_bytes(path.read_bytes()[:50])         # truncated by a crash
    with pytest.warns(CorruptArtefactWarning, match="checksum"):
        assert store.load_arrays("s", {"p": 1}) is None
    store.save_arrays("s", {"p": 1}, {"x": np.arange(10)})
    path.with_suffix(".json").unlink()                # interrupted before the marker
    with pytest.warns(CorruptArtefactWarning, match="completeness marker"):
        assert store.load_arrays("s", {"p": 1}) is None
    out = store.cached_arrays("s", {"p": 1}, lambda: {"x": np.arange(3)})
    assert out["x"].tolist() == [0, 1, 2]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert store.load_arrays("s", {"p": 1})["x"].tolist() == [0, 1, 2]


def test_models_roundtrip_safely(tmp_path, trained_f):
    store = ArtefactStore(tmp_path)
    store.save_model("m", {"k": 1}, trained_f)
    loaded = store.load_model("m", {"k": 1})
    x = np.zeros((2, 28, 28, 1), np.float32)
    np.testing.assert_allclose(loaded(x).numpy(), trained_f(x).numpy(), rtol=1e-5, atol=1e-5)
    p = store.path("m", {"k": 1}, "keras")
    p.write_bytes(p.read_bytes()[:100])
    with pytest.warns(CorruptArtefactWarning):
        assert store.load_model("m", {"k": 1}) is None


def test_atomic_write_leaves_the_old_file_on_error(tmp_path):
    from advsal.atomic import atomic_file, atomic_text

    target = tmp_path / "t.txt"
    atomic_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_file(target, "w") as fh:
            fh.write("half of the new")
            raise RuntimeError("killed")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["t.txt"]


def test_per_model_objects_follow_the_model_not_its_id():
    from advsal.batches import map_batches, per_model

    class M:
        pass

    a, b = M(), M()
    made = []
    for m in (a, a, b):
        per_model(m, "k", lambda m=m: made.append(m) or len(made))
    assert made == [a, b]
    assert map_batches(lambda z: z * 2, np.arange(5), 2).tolist() == [0, 2, 4, 6, 8]


def test_store_reports_what_it_reused_and_computed(tmp_path):
    store = ArtefactStore(tmp_path)
    store.cached_arrays("attack", {"a": 1}, lambda: {"x": np.zeros(2)})
    store.cached_arrays("attack", {"a": 1}, lambda: {"x": np.ones(2)})
    store.cached_arrays("saliency", {"a": 1}, lambda: {"x": np.ones(2)})
    assert [(s, w) for s, w, _ in store.ledger] == [("attack", "computed"), ("attack", "reused"),
                                                   ("saliency", "computed")]
    text = store.summary()
    assert "reused 1 cached stages (attack 1)" in text and "attack x1 in" in text


def test_written_files_follow_the_umask_not_owner_only(tmp_path):
    import os

    from advsal.atomic import atomic_text

    atomic_text(tmp_path / "t.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "t.txt").stat().st_mode & 0o777 == 0o666 & ~umask


def test_markdown_tables_escape_pipes_and_keep_integers():
    import pandas as pd

    from advsal.reporting import markdown_table

    text = markdown_table(pd.DataFrame({"mean |s|": [0.12345], "n": [200]}, index=["S"]), 3)
    assert "mean \\|s\\|" in text and "| 0.123 | 200 |" in text


def test_markdown_tables_show_small_nonzero_floats():
    """A learning rate of 1e-4 printed at 3 decimals must not read as 0.000; zero and
    ordinary values keep the fixed decimals."""
    import pandas as pd

    from advsal.reporting import markdown_table

    df = pd.DataFrame({"d_lr": [1e-4, 1e-3, 0.0, 0.0004, 0.0006]})
    cells = [line.split("|")[2].strip() for line in markdown_table(df, 3).splitlines()[2:]]
    assert cells == ["0.0001", "0.001", "0.000", "0.0004", "0.001"]
