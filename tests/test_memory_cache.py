"""advsal.memory_cache: a Study's in-memory stages and models, bounded in bytes."""
import numpy as np
import pytest

from advsal.memory_cache import MemoryCache, nbytes


def test_least_recently_used_entries_go_first_and_pinned_ones_stay():
    mb = np.zeros(250_000, np.float32)     # 1 MB each
    c = MemoryCache(budget_gb=0.0035, pinned={"F"})
    c["F"] = {"w": mb.copy()}
    c["a"], c["b"] = {"x": mb.copy()}, [mb.copy()]
    c["a"]                                  # a is now more recent than b
    c["c"] = mb.copy()                      # 4 MB > 3.5 MB: b goes
    assert list(c._items) == ["F", "a", "c"] and c.evictions == 1
    assert c.bytes == 3_000_000 <= c.budget
    c["d"], c["e"] = mb.copy(), mb.copy()   # F is never evicted
    assert "F" in c and "a" not in c and len(c) == 3
    assert c.pop("d") is not None and c.bytes == 2_000_000
    assert "2 stages and models, 0.00 GB" in c.summary()


def test_an_entry_larger_than_the_budget_is_not_kept_and_none_is_unbounded():
    c = MemoryCache(budget_gb=1e-6)
    c["big"] = np.zeros(1000, np.float64)
    assert "big" not in c and c.bytes == 0
    u = MemoryCache(budget_gb=None)
    for i in range(5):
        u[i] = np.zeros(10**6, np.uint8)
    assert len(u) == 5 and u.evictions == 0 and "unbounded" in u.summary()


def test_nbytes_counts_arrays_in_containers_and_a_models_variables():
    import keras

    assert nbytes({"a": np.zeros(3, np.float32), "b": (np.zeros(2, np.int64), 1.0)}) == 28
    assert nbytes("text") == 0
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    assert nbytes(m) == (4 * 3 + 3) * 4


@pytest.mark.parametrize("bad", [-1, float("nan"), "1"])
def test_a_bad_budget_names_the_parameter(bad):
    with pytest.raises((ValueError, TypeError), match="budget_gb"):
        MemoryCache(budget_gb=bad)


def test_drop_large_lets_go_of_big_entries_and_keeps_pinned_and_small_ones():
    c = MemoryCache(budget_gb=None, pinned={"F"})
    c["F"] = np.zeros(10**6, np.uint8)
    c["stage"], c["model"] = np.zeros(2 * 10**6, np.uint8), [np.zeros(10**6, np.uint8)]
    c["report"] = {"auc": 0.9, "scores": np.zeros(100, np.float32)}
    assert c.drop_large(10**6) == 3 * 10**6
    assert sorted(c._items) == ["F", "report"] and c.bytes == 10**6 + 400
    assert c.evictions == 2 and c.drop_large(10**6) == 0
