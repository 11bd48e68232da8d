"""Sharded stages (advsal.shards): compact storage, resuming after a kill, and the
detector trained from compact parts equals the one trained from float arrays."""
import numpy as np
import pytest

SMALL = dict(f_train_size=1000, f_epochs=1, n_adv_train=200, n_val=60, n_adv_test=60,
             n_calib=60, d_epochs=1, attacks=["fgsm"])


def test_shard_ranges_cover_the_range_once():
    from advsal.shards import shard_ranges

    assert shard_ranges(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert shard_ranges(0, 4) == []
    with pytest.raises(ValueError, match="shard_size"):
        shard_ranges(10, 0)


def test_grid8_codes_are_exact_and_refuse_off_grid_images():
    from advsal.shards import from_grid8, to_grid8

    x = (np.arange(256, dtype=np.float32) / 255.0).reshape(1, 16, 16, 1)
    assert np.array_equal(from_grid8(to_grid8(x)), x)
    with pytest.raises(ValueError, match="8-bit grid"):
        to_grid8(x + 0.3 / 255)


def test_killed_sharded_attack_resumes_at_the_next_shard(tmp_path, data_dir, monkeypatch,
                                                         cached_f):
    from advsal import attacks as atk
    from advsal.pipeline import Study

    def study(root):
        return Study("mnist", "smoke", data_dir=data_dir, artefact_dir=cached_f(root, **SMALL),
                     progress=False, shard_size=64, **SMALL)

    whole = study(tmp_path / "whole").adversarial("fgsm", "train", 0.2)
    calls, real = [], atk.craft

    def dying_craft(*args, **kw):
        calls.append(len(args[2]))
        if len(calls) == 3:
            raise KeyboardInterrupt("killed during the third shard")
        return real(*args, **kw)

    monkeypatch.setattr(atk, "craft", dying_craft)
    with pytest.raises(KeyboardInterrupt):
        study(tmp_path / "killed").adversarial("fgsm", "train", 0.2)
    assert calls == [64, 64, 64]
    calls.clear()
    resumed = study(tmp_path / "killed").adversarial("fgsm", "train", 0.2)
    assert calls == [64, 8]          # shards 3 and 4 only: 200 = 64 + 64 + 64 + 8
    assert sorted(resumed) == sorted(whole)
    for k in set(whole) - {"seconds"}:    # seconds are timings
        np.testing.assert_array_equal(resumed[k], whole[k])


def test_sharded_study_matches_the_in_memory_one(tmp_path, data_dir, cached_f):
    """FGSM is deterministic: the sharded training split holds the same adversarial
    images, saliency to float16 rounding, and a detector of the same quality."""
    from advsal.detector_inputs import FeatureRows
    from advsal.pipeline import Study
    from advsal.shards import from_grid8

    a = Study("mnist", "smoke", data_dir=data_dir, artefact_dir=cached_f(tmp_path, **SMALL),
              progress=False, **SMALL)
    b = Study("mnist", "smoke", data_dir=data_dir, artefact_dir=tmp_path, progress=False,
              shard_size=64, **SMALL)
    assert not a.sharded("train") and b.sharded("train") and not b.sharded("test")
    eps = 0.2
    np.testing.assert_array_equal(from_grid8(b.adversarial("fgsm", "train", eps)["x_adv_grid8"]),
                                  a.adversarial("fgsm", "train", eps)["x_adv"])
    sa, sb = a.saliency("train", "fgsm", eps), b.saliency("train", "fgsm", eps)
    assert sb.dtype == np.float16 and np.abs(sa - sb.astype(np.float32)).max() < 1e-3
    assert a.attack_stats("fgsm", "train", eps)["success_rate"] == \
        b.attack_stats("fgsm", "train", eps)["success_rate"]
    rows, labels = b._labelled_set("image+saliency", "train", "fgsm", eps)
    dense, dense_labels = a._labelled_set("image+saliency", "train", "fgsm", eps)
    assert isinstance(rows, FeatureRows) and rows.shape == dense.shape
    np.testing.assert_array_equal(labels, dense_labels)
    idx = np.array([5, 250, 0, len(rows) - 1])
    np.testing.assert_allclose(rows.take(idx), dense[idx], atol=1e-3)
    for st in (a, b):   # what the peers are fitted on, decoded batch by batch
        pos = st.positives("fgsm", eps, "train")
        whole = st.image_rows("train", "fgsm", eps, adversarial=True)
        np.testing.assert_array_equal(whole[0:len(whole)],
                                      a.adversarial_images("fgsm", "train", eps)[pos])
        np.testing.assert_array_equal(st.image_rows("train", "fgsm", eps)[0:200],
                                      a.attacked_images("fgsm", "train")[0])
    assert b.detector_key("fgsm", eps, "image+saliency") != \
        a.detector_key("fgsm", eps, "image+saliency")
    ra, rb = a.evaluate("fgsm", det_eps=eps), b.evaluate("fgsm", det_eps=eps)
    assert abs(ra["auc"] - rb["auc"]) < 0.05
    small = b.evaluate("fgsm", det_eps=eps, n_train=100)
    assert b.store.meta("detector", b.detector_key("fgsm", eps, "image+saliency", 100),
                        "keras")["n_train_clean"] == 100
    assert 0.0 <= small["auc"] <= 1.0
    with pytest.raises(ValueError, match="n_train"):
        b.detector("fgsm", eps, n_train=10_000)


def test_studies_of_one_data_set_share_its_arrays(tmp_path, data_dir):
    """A notebook holding several Studies (notebook 09: one per budget) reads the data once."""
    from advsal.pipeline import Study

    a = Study("mnist", "smoke", data_dir=data_dir, artefact_dir=tmp_path, progress=False)
    b = Study("mnist", "smoke", data_dir=data_dir, artefact_dir=tmp_path, progress=False,
              calib_target="table2")
    assert a.data.x_train is b.data.x_train


@pytest.mark.parametrize("shard_size", [None, 64])
def test_attack_train_sizes_attack_and_train_on_the_first_images_only(tmp_path, data_dir,
                                                                     monkeypatch, shard_size,
                                                                     cached_f):
    """``attack_train_sizes``: a slow attack runs on the first n training images only, its
    detector trains on those (the same detector as a learning curve's point at n), and a
    shard it made is the one a study on every image reads."""
    from advsal import attacks as atk
    from advsal.pipeline import Study

    def study(**kw):
        return Study("mnist", "smoke", data_dir=data_dir, artefact_dir=tmp_path, progress=False,
                     shard_size=shard_size, **{**SMALL, **kw})

    cached_f(tmp_path, **SMALL)
    calls, real = [], atk.craft

    def counting_craft(*args, **kw):
        calls.append(len(args[2]))
        return real(*args, **kw)

    monkeypatch.setattr(atk, "craft", counting_craft)
    eps = 0.2
    st = study(attack_train_sizes={"fgsm": 100})
    assert st.n_train("fgsm") == 100 and st.n_train("iter_linf") == 200
    adv = st.adversarial("fgsm", "train", eps)
    assert calls == ([64, 36] if shard_size else [100])
    assert len(adv["y"]) == 100 and len(st.saliency("train", "fgsm", eps)) == 100
    np.testing.assert_array_equal(st.attacked_images("fgsm", "train")[0],
                                  st.images("train")[0][:100])
    rep = st.evaluate("fgsm", det_eps=eps)
    assert rep["n_train"] == 100
    key = st.detector_key("fgsm", eps, "image+saliency")
    assert key == st.detector_key("fgsm", eps, "image+saliency", 100) and key["n_train"] == 100
    meta = st.store.meta("detector", key, "keras")
    assert meta["n_train_clean"] == 100
    assert meta["n_train_adv"] == int(st.fooled_mask("fgsm", eps, "train").sum())
    with pytest.raises(ValueError, match=r"attack_train_sizes\['fgsm'\]"):
        st.detector("fgsm", eps, n_train=150)
    calls.clear()
    whole = study().adversarial("fgsm", "train", eps)   # every image: the cached shard is read
    assert calls == ([64, 64, 8] if shard_size else [200])
    key = "x_adv_grid8" if shard_size else "x_adv"
    np.testing.assert_array_equal(whole[key][:100], adv[key])
    with pytest.raises(ValueError, match="attack_train_sizes key"):
        study(attack_train_sizes={"fgsmm": 10})
    with pytest.raises(ValueError, match=r"attack_train_sizes\['fgsm'\]"):
        study(attack_train_sizes={"fgsm": 0})


def test_attack_test_sizes_attack_the_first_test_images_and_score_every_clean_one(
        tmp_path, data_dir, monkeypatch, cached_f):
    """``attack_test_sizes``: a slow attack runs on the first n test images only; D is
    scored on every clean test image and on those n adversarial ones, also when a
    detector of another attack is tested on them (Fig. 2)."""
    from advsal import attacks as atk
    from advsal.pipeline import Study

    calls, real = [], atk.craft

    def counting_craft(*args, **kw):
        calls.append(len(args[2]))
        return real(*args, **kw)

    monkeypatch.setattr(atk, "craft", counting_craft)
    st = Study("mnist", "smoke", data_dir=data_dir, artefact_dir=cached_f(tmp_path, **SMALL),
               progress=False, **{**SMALL, "attack_test_sizes": {"fgsm": 30}})
    n_test = st.params["n_adv_test"]
    assert (st.n_attacked("fgsm", "test"), st.n_attacked("iter_linf", "test")) == (30, n_test)
    assert st.n_attacked("fgsm", "val") == st.params["n_val"]
    adv = st.adversarial("fgsm", "test", 0.2)
    assert calls == [30] and len(adv["y"]) == 30
    np.testing.assert_array_equal(adv["y"], st.images("test")[1][:30])
    own, cross = st.evaluate("fgsm", det_eps=0.2, test_eps=0.2), \
        st.evaluate("iter_linf", "fgsm", det_eps=0.1, test_eps=0.2)
    for rep in (own, cross):
        assert rep["n_clean"] == n_test and rep["n_adv"] == int(
            st.fooled_mask("fgsm", 0.2).sum()) <= 30
    assert len(st.image_rows("test", "fgsm", 0.2)) == 30
    assert len(st.image_rows("test", "fgsm", 0.2, adversarial=True)) == int(
        st.positives("fgsm", 0.2, "test").sum())
    for bad, match in (({"fgsmm": 3}, "attack_test_sizes key"),
                       ({"fgsm": 0}, r"attack_test_sizes\['fgsm'\]"), ([3], "must be a dict")):
        with pytest.raises(ValueError, match=match):
            Study("mnist", "smoke", data_dir=data_dir, artefact_dir=tmp_path,
                  attack_test_sizes=bad)
