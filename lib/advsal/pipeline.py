"""The study's data flow with an on-disk cache: data -> F -> attacks ->
saliency -> D -> scores.

:class:`Study` holds one data set's parameters (see :mod:`advsal.presets`)
and returns each stage's result, computing it only when no valid cached copy
exists under ``artefact_dir``. Each stage's cache key is built from every
parameter that stage depends on, including the keys of the stages upstream,
so a change anywhere invalidates exactly what depends on it.

Subsets (fixed by the seed; pairwise disjoint, a test checks): F trains on
``f_train_size`` training images; detectors train on the first
``n_adv_train`` images of a permutation of the training split and their
adversarial versions; the next ``n_val`` images of that permutation are the
validation slice (D's epoch selection and its decision thresholds); detectors
are tested on the first ``n_adv_test`` images of a permutation of the test
split; epsilon is calibrated on the next ``n_calib`` test images. Test images
are only ever scored.

Adversarial images are quantised to the 8-bit grid (``adv_quantize="8bit"``,
:func:`advsal.attacks.quantize_8bit`) before anything reads them, so F's
success, the saliency and D all see what an image file could hold.
"""
from __future__ import annotations

import functools
import time
from functools import cached_property
from pathlib import Path

import numpy as np

from . import attacks as atk
from . import work
from .batches import map_batches
from .cache import ArtefactStore, make_key
from .datasets import load_dataset
from .metrics import VAL_FPRS, detection_report, threshold_at_fpr
from .devices import make_strategy
from .networks import build_classifier, build_detector, init_weights_key
from .presets import PAPER_TABLE2, paper_values, resolve_params
from .progress import progress_bar
from .memory_cache import MemoryCache
from .reproducibility import peak_memory_gb, seed_everything
from .detector_inputs import FeatureRows, features_np, input_kind
from .shards import ensure_shards, from_grid8, read_shards, shard_key, to_grid8
from .saliency import saliency
from .training import accuracy, train_classifier, train_detector

__all__ = ["Study", "StageNotCached"]


class StageNotCached(LookupError):
    """A stage a ``cache_only`` study would have to compute."""

ARCH_VERSION = "table1-v1"
_DATA: dict = {}   # the data sets loaded in this process, shared by its Studies
def _logits(model, x, batch_size=1024):
    work.add("inference", model, len(x), work.FORWARD)
    return map_batches(lambda b: model(b, training=False)[:, 0], x, batch_size,
                       empty=lambda: np.zeros(0, np.float32))


def _on_devices(method):
    """Run a Study method in the scope of its ``strategy`` (advsal.devices): models are
    built, loaded and trained there, and batches are split across its replicas."""
    @functools.wraps(method)
    def scoped(self, *args, **kwargs):
        with self.strategy.scope():
            return method(self, *args, **kwargs)
    return scoped


class Study:
    """One data set's study at one preset, with cached stages."""

    def __init__(self, dataset, preset="quick", data_dir=None, artefact_dir="artefacts",
                 progress=True, deterministic=True, cache_only=False, memory_gb=1.0,
                 **overrides):
        self.params = resolve_params(dataset, preset, **overrides)
        self.dataset = dataset
        self.preset, self._overrides, self._deterministic = preset, overrides, deterministic
        self.data_dir = data_dir
        self.store = ArtefactStore(Path(artefact_dir))
        self.progress = progress
        # cache_only: read stages from the cache, never compute one (StageNotCached instead)
        self.cache_only = cache_only
        self.timings: dict[str, float] = {}
        # stages read or computed and models loaded, least recently used evicted beyond
        # memory_gb (None: unbounded); F stays (advsal.memory_cache)
        self._memory = MemoryCache(memory_gb, pinned={"F"})
        seed_everything(self.params["seed"], deterministic)
        self.strategy = make_strategy(self.params["strategy"])

    D_TRAINING = ("d_lr", "d_lr_inputs", "d_epochs", "d_batch_size")

    def sibling(self, **d_training) -> "Study":
        """This study with D trained otherwise (``d_lr``, ``d_lr_inputs``, ``d_epochs``,
        ``d_batch_size``; e.g. a learning rate chosen on validation,
        :mod:`advsal.learning_rate`). It shares
        this study's stages and models in memory: their keys hold every parameter they
        depend on, and none of these is in any key but D's."""
        bad = sorted(set(d_training) - set(self.D_TRAINING))
        if bad:
            raise ValueError(f"sibling() changes D's training only ({', '.join(self.D_TRAINING)}); "
                             f"got {', '.join(bad)}")
        s = Study(self.dataset, self.preset, data_dir=self.data_dir,
                  artefact_dir=self.store.root, progress=self.progress,
                  deterministic=self._deterministic, cache_only=self.cache_only,
                  **{**self._overrides, **d_training})
        s.strategy, s._memory = self.strategy, self._memory
        return s

    @_on_devices
    def cached(self, stage, key, compute):
        """Stage arrays from memory, else from the verified disk cache, else computed."""
        mkey = (stage, make_key(key))
        if mkey in self._memory:
            return self._memory[mkey]
        if self.cache_only:
            compute = self._not_cached(stage, key)
        arrays = self.store.cached_arrays(stage, key, compute)
        self._memory[mkey] = arrays
        return arrays

    def stage_summary(self) -> str:
        """What this study reused from the cache and what it computed (with seconds), and
        the process's peak resident memory so far."""
        return (f"{self.store.summary()}\n{work.summary()}\n{self._memory.summary()}\n"
                f"peak resident memory: {peak_memory_gb():.2f} GB")

    def _not_cached(self, stage, key):
        def fail(*_):
            raise StageNotCached(
                f"stage {stage!r} is not in the cache {self.store.root} and this Study has "
                f"cache_only=True; run the notebook that computes it, or use cache_only=False. "
                f"Key: {key}")
        return fail

    # ------------------------------------------------------------ data
    @cached_property
    def data(self):
        kw = {}
        for k in ("image_size", "limit_per_class"):
            if self.params.get(k):
                kw[k] = self.params[k]
        key = (self.dataset, str(self.data_dir), tuple(sorted(kw.items())))
        if key not in _DATA:   # Studies of one data set share its arrays (read-only)
            while len(_DATA) >= 2:
                _DATA.pop(next(iter(_DATA)))
            _DATA[key] = load_dataset(self.dataset, self.data_dir, **kw)
        data = _DATA[key]
        self.params["data_source"] = data.source   # provenance of every table written after
        return data

    @cached_property
    def subsets(self):
        p, d = self.params, self.data
        rng = np.random.default_rng(p["seed"])
        tr, te = rng.permutation(len(d.x_train)), rng.permutation(len(d.x_test))
        for name, need, have in (("f_train_size", p["f_train_size"], len(tr)),
                                 ("n_adv_train + n_val", p["n_adv_train"] + p["n_val"], len(tr)),
                                 ("n_adv_test + n_calib", p["n_adv_test"] + p["n_calib"],
                                  len(te))):
            if need > have:
                raise ValueError(f"{name}={need} exceeds the {have} images available")
        end = p["n_adv_train"] + p["n_val"]
        out = {"f_train": np.sort(tr[:p["f_train_size"]]),
               "adv_train": tr[:p["n_adv_train"]],
               "val": tr[p["n_adv_train"]:end],
               "test": te[:p["n_adv_test"]],
               "calib": te[p["n_adv_test"]:p["n_adv_test"] + p["n_calib"]]}
        # The peer detectors' clean reference images (advsal.peer_detectors): training
        # images after the validation slice, so disjoint from every image a detector is
        # trained, validated or tested on; present only where the training split has room.
        if end + p["peer_n_ref"] + p["peer_n_fit"] <= len(tr):
            out["peer_ref"] = tr[end:end + p["peer_n_ref"]]
            out["peer_fit"] = tr[end + p["peer_n_ref"]:end + p["peer_n_ref"] + p["peer_n_fit"]]
        return out

    def images(self, split):
        """Clean images and labels of a subset: 'train' (detector training), 'val'
        (detector validation: epoch selection and thresholds), 'test', 'calib', and the
        peer detectors' reference images 'peer_ref' and 'peer_fit'."""
        d, s = self.data, self.subsets
        if split in ("train", "val"):
            idx = s["adv_train" if split == "train" else "val"]
            return d.x_train[idx], d.y_train[idx]
        if split in ("test", "calib"):
            idx = s[split]
            return d.x_test[idx], d.y_test[idx]
        if split in ("peer_ref", "peer_fit"):
            if split not in s:
                p = self.params
                raise ValueError(
                    f"n_adv_train + n_val + peer_n_ref + peer_n_fit="
                    f"{p['n_adv_train'] + p['n_val'] + p['peer_n_ref'] + p['peer_n_fit']} "
                    f"exceeds the {len(d.x_train)} training images; lower peer_n_fit")
            return d.x_train[s[split]], d.y_train[s[split]]
        raise ValueError(f"split={split!r} is not allowed; allowed: "
                         "['train', 'val', 'test', 'calib', 'peer_ref', 'peer_fit']")

    # ------------------------------------------------------------ F
    @cached_property
    def f_key(self):
        p = self.params
        return {"stage": "classifier", "arch": ARCH_VERSION, "dataset": self.dataset,
                "source": Path(self.data.source).name, "image_size": p["image_size"],
                "f_train_size": p["f_train_size"], "f_epochs": p["f_epochs"],
                "f_lr": p["f_lr"], "f_batch_size": p["f_batch_size"],
                "f_augment": p["f_augment"], "fc_units": p["f_fc_units"], "seed": p["seed"],
                **({"limit_per_class": p["limit_per_class"]} if p["limit_per_class"] else {}),
                **({"init": init_weights_key(p["f_init_weights"])}
                   if p["f_init_weights"] != "random" else {}),
                **({"finetune": p["f_finetune"]} if p["f_finetune"] else {})}

    def _f_phase_key(self, phases):
        # F after its first phase and the first ``phases`` fine-tuning phases
        key = dict(self.f_key)
        done = self.params["f_finetune"][:phases]
        key.pop("finetune", None)
        return {**key, **({"finetune": done} if done else {})}

    def classifier(self):
        """Trained F (loaded from the cache when present)."""
        if "F" not in self._memory:
            self._memory["F"] = self._classifier_phase(len(self.params["f_finetune"]))
        return self._memory["F"]

    @_on_devices
    def _classifier_phase(self, phase):
        """F after fine-tuning phase ``phase`` (0: the first training, ``f_epochs`` at
        ``f_lr`` from scratch); phase k > 0 continues phase k - 1's F with a fresh Adam for
        ``f_finetune[k - 1] = [epochs, lr]`` (a step learning-rate schedule whose every
        step is cached, so a longer schedule reuses a shorter one's F)."""
        key = self._f_phase_key(phase)
        model = self.store.load_model("classifier", key)
        if model is not None:
            return model
        if self.cache_only:
            self._not_cached("classifier", key)()
        p, d = self.params, self.data
        if phase == 0:
            seed_everything(p["seed"])
            init = None if p["f_init_weights"] == "random" else p["f_init_weights"]
            model = build_classifier(self.dataset, d.input_shape, d.n_classes,
                                     fc_units=p["f_fc_units"], init_weights=init)
            epochs, lr, seed = p["f_epochs"], p["f_lr"], p["seed"]
        else:
            model = self._classifier_phase(phase - 1)
            (epochs, lr), seed = p["f_finetune"][phase - 1], p["seed"] + 1000 * phase
        t0 = time.perf_counter()
        idx = self.subsets["f_train"]
        hist = train_classifier(model, d.x_train[idx], d.y_train[idx], epochs, lr,
                                p["f_batch_size"], seed=seed, augment=p["f_augment"],
                                x_val=d.x_test, y_val=d.y_test, progress=self.progress)
        # F's test accuracy: the last epoch's pass over the test split (the same weights;
        # a second pass cost each smoke-size F a third of its time)
        info = {"history": hist, "train_seconds": time.perf_counter() - t0, "phase": phase,
                "train_accuracy": accuracy(model, d.x_train[idx], d.y_train[idx]),
                "test_accuracy": hist["val_accuracy"][-1]}
        self.store.save_model("classifier", key, model, extra=info)
        self.timings["classifier"] = self.timings.get("classifier", 0.0) + info["train_seconds"]
        return model

    def classifier_info(self):
        self.classifier()
        return self.store.meta("classifier", self.f_key, "keras")

    # ------------------------------------------------------------ attacks
    def _attack_params(self, attack):
        return atk.attack_spec(attack).key(self.params)

    def budget(self, attack, eps=None):
        """``eps``, or the calibrated budget when None (None for attacks without one)."""
        if eps is None and atk.attack_spec(attack).budget:
            return self.eps(attack)
        return eps

    def n_train(self, attack) -> int:
        """How many training images ``attack``'s detectors are trained on: the first
        ``attack_train_sizes[attack]`` of the training split, at most (and by default)
        ``n_adv_train``; only those are attacked."""
        p = self.params
        return min(p["n_adv_train"], p["attack_train_sizes"].get(attack, p["n_adv_train"]))

    def n_attacked(self, attack, split) -> int:
        """How many images of a split ``attack`` runs on: the training split's
        :meth:`n_train`, the test split's first ``attack_test_sizes[attack]`` (at most, and
        by default, ``n_adv_test``), every image of the others."""
        p = self.params
        if split == "train":
            return self.n_train(attack)
        if split == "test":
            return min(p["n_adv_test"], p["attack_test_sizes"].get(attack, p["n_adv_test"]))
        return len(self.subsets[split])

    def attacked_images(self, attack, split):
        """The clean images and labels ``attack`` runs on: a split's first
        :meth:`n_attacked` images."""
        x, y = self.images(split)
        n = self.n_attacked(attack, split)
        return x[:n], y[:n]

    def calibration(self, attack):
        """Smallest epsilon on the grid with F accuracy < target on the calibration
        images (binary search over the sorted grid; for attacks with a ``scan``, such
        as JSMA, every value of the grid from one run). Returns a dict with the chosen
        ``eps`` and every (eps, accuracy) tried; attacks without a budget have none."""
        spec = atk.attack_spec(attack)
        if not spec.budget:
            return {"eps": None, "tried": []}
        if attack in self.params["eps"]:
            return {"eps": float(self.params["eps"][attack]), "tried": [], "fixed": True}
        p = self.params
        grid = sorted(p["eps_grid"][attack])
        target = self.target_accuracy(attack)
        key = {"stage": "calibration", "f": self.f_key, "attack": attack, "grid": grid,
               "n_calib": p["n_calib"], "target": target,
               **self._attack_params(attack), "seed": p["seed"], **self._quant_key(attack),
               **({"search": "prefix-scan"} if spec.scan else {})}

        def compute():
            model, (x, y) = self.classifier(), self.images("calib")
            tried, lo, hi = {}, 0, len(grid) - 1
            # a binary search over the grid: at most ceil(log2(len)) + 1 attacks
            bar = progress_bar(1 if spec.scan else int(np.ceil(np.log2(len(grid)))) + 1,
                               f"calibrating {attack}", "eps", enabled=self.progress)

            def acc(i):
                if i not in tried:
                    xa, _ = atk.craft(model, attack, x, grid[i], p, seed=p["seed"],
                                      progress=False)
                    xa = self._quantize(attack, x, xa, grid[i])
                    tried[i] = float(np.mean(atk.predict(model, xa).argmax(1) == y))
                    bar.update(1)
                    bar.set_postfix(eps=f"{grid[i]:.4g}", f_acc=f"{tried[i]:.3f}")
                return tried[i]

            if spec.scan:   # one run gives F's accuracy at every value of the grid
                curve = spec.scan(model, x, y, grid, p, seed=p["seed"])
                tried.update(enumerate(curve))
                below = [i for i, a in enumerate(curve) if a < target]
                chosen = below[0] if below else hi
            elif acc(hi) >= target:
                chosen = hi      # grid exhausted: take the largest value, flagged below
            else:
                while lo < hi:
                    mid = (lo + hi) // 2
                    if acc(mid) < target:
                        hi = mid
                    else:
                        lo = mid + 1
                chosen = lo
            bar.total = bar.n   # the search may need fewer attacks than its bound: end green
            bar.close()
            pairs = sorted((grid[i], a) for i, a in tried.items())
            return ({"tried": np.array(pairs, np.float64)},
                    {"eps": grid[chosen], "reached": tried[chosen] < target})

        t0 = time.perf_counter()
        arrays = self.cached("calibration", key, compute)
        self.timings.setdefault(f"calibration/{attack}", time.perf_counter() - t0)
        meta = self.store.meta("calibration", key, "npz")
        return {"eps": float(meta["eps"]), "reached": meta["reached"],
                "tried": [tuple(r) for r in arrays["tried"]]}

    def target_accuracy(self, attack):
        """F's accuracy the budget of ``attack`` is calibrated to reach (``calib_target``):
        ``target_accuracy`` (Section IV.B), or the paper's Table II f(x_adv) of the attack."""
        if self.params["calib_target"] == "table2":
            have = paper_values(PAPER_TABLE2, self.dataset)
            if attack not in have:
                raise ValueError(f"calib_target='table2' needs the paper's Table II f(x_adv); "
                                 f"the paper has none for attack={attack!r} on {self.dataset}; "
                                 f"attacks with one: {sorted(have)}")
            return float(have[attack][1])
        return self.params["target_accuracy"]

    def eps(self, attack):
        return self.calibration(attack)["eps"]

    def _quant_key(self, attack, quantize=None, eps=None):
        # Float images keep the keys they had before quantisation existed. l_inf budgets
        # are read in whole steps with a tolerance (advsal.attacks.linf_steps): v2 with
        # 0.002 step, v3 with 0.01; a budget keeps its v2 key where both read the same
        # number of steps (every grid value, every MNIST budget), so only the sets v3
        # changes (2 x 3/255 written to 5 decimals) are rederived.
        q = quantize or self.params["adv_quantize"]
        if q == "float":
            return {}
        if not atk.attack_spec(attack).linf_ball:
            return {"quantize": q}
        same = eps is None or atk.linf_steps(eps) == atk.linf_steps(eps, atk.STEP_TOLERANCE_V2)
        return {"quantize": q, "linf_steps": 2 if same else 3}

    def _quantize(self, attack, x, x_adv, eps):
        if self.params["adv_quantize"] == "float":
            return x_adv
        return atk.quantize_8bit(x, x_adv,
                                 linf_eps=eps if atk.attack_spec(attack).linf_ball else None)

    def _adv_key(self, attack, split, eps, quantize=None):
        p = self.params
        n = self.n_attacked(attack, split)
        return {"stage": "adversarial", "f": self.f_key, "attack": attack,
                "eps": None if eps is None else float(eps), "split": split, "n": n,
                **self._attack_params(attack), "seed": p["seed"],
                **self._quant_key(attack, quantize, eps)}

    def adversarial(self, attack, split, eps=None):
        """Adversarial versions of a subset: dict with ``x_adv``, ``pred_adv``,
        ``pred_clean`` and ``y`` (and ``targets`` for targeted attacks).

        The attack's raw (float) output is cached under the float key; the 8-bit
        set is derived from it by :func:`advsal.attacks.quantize_8bit`, so both
        variants share one run of the attack."""
        eps = self.budget(attack, eps)
        if self.sharded(split):
            return self._adversarial_shards(attack, eps)
        quant = self.params["adv_quantize"]
        key = self._adv_key(attack, split, eps)

        def finish(x_adv, info, seconds):
            model, (x, y) = self.classifier(), self.attacked_images(attack, split)
            pred_adv = atk.predict(model, x_adv).argmax(1)
            pred_clean = atk.predict(model, x).argmax(1)
            stats = atk.attack_stats(model, x, x_adv, y, pred_adv, pred_clean)
            stats.update(seconds=seconds, seconds_per_1000=1000 * seconds / max(len(x), 1),
                         eps=eps, quantize=quant)
            return ({"x_adv": x_adv, "pred_adv": pred_adv, "y": y, "pred_clean": pred_clean,
                     **info}, {"stats": stats})

        def craft():
            model, (x, _) = self.classifier(), self.attacked_images(attack, split)
            t0 = time.perf_counter()
            seed = self.params["seed"] + {"train": 0, "test": 1, "calib": 1, "val": 2}[split]
            x_adv, info = atk.craft(model, attack, x, eps, self.params, seed=seed,
                                    progress=self.progress)
            return finish(x_adv, info, time.perf_counter() - t0)

        if quant == "float":
            return self.cached("adversarial", key, craft)
        raw_key = self._adv_key(attack, split, eps, quantize="float")

        def derive():
            # the raw floats are read once to derive the 8-bit set, not kept in memory
            raw = self.store.cached_arrays("adversarial", raw_key, craft)
            seconds = self.store.meta("adversarial", raw_key, "npz")["stats"]["seconds"]
            info = {k: v for k, v in raw.items()
                    if k not in ("x_adv", "pred_adv", "y", "pred_clean")}
            x = self.attacked_images(attack, split)[0]
            return finish(self._quantize(attack, x, raw["x_adv"], eps), info, seconds)

        return self.cached("adversarial", key, derive)

    def adversarial_images(self, attack, split, eps=None) -> np.ndarray:
        """The adversarial images of a subset as float32 (decoded from the 8-bit codes
        where the split is sharded; that copy is as large as the split)."""
        adv = self.adversarial(attack, split, eps)
        return from_grid8(adv["x_adv_grid8"]) if "x_adv_grid8" in adv else adv["x_adv"]

    def attack_stats(self, attack, split, eps=None):
        eps = self.budget(attack, eps)
        adv = self.adversarial(attack, split, eps)
        if self.sharded(split):
            stats = atk.stats_from_distortions({k: adv[k] for k in ("linf", "l2", "l0")},
                                               adv["y"], adv["pred_adv"], adv["pred_clean"])
            seconds = float(adv["seconds"].sum())
            return {**stats, "seconds": seconds, "eps": eps,
                    "seconds_per_1000": 1000 * seconds / max(len(adv["y"]), 1),
                    "quantize": self.params["adv_quantize"]}
        return self.store.meta("adversarial", self._adv_key(attack, split, eps), "npz")["stats"]

    # ------------------------------------------------------------ shards
    def sharded(self, split) -> bool:
        """Whether a split's stages run in shards (``shard_size``, training split only)."""
        size = self.params["shard_size"]
        return split == "train" and size is not None and self.params["n_adv_train"] > size

    def _train_rows(self, lo, hi, codes=False):
        # images lo:hi of the training split (8-bit codes with ``codes``), without copying
        # the whole split
        idx = self.subsets["adv_train"][lo:hi]
        if not codes:
            return self.data.x_train[idx]
        out = np.empty((len(idx),) + self.data.x_train.shape[1:], np.uint8)
        for i in range(0, len(idx), 4096):   # a float copy of one chunk at a time
            out[i:i + 4096] = to_grid8(self.data.x_train[idx[i:i + 4096]])
        return out

    def _shard_adv_key(self, attack, eps):
        # the whole split's n in the key (n_train(attack) only selects how many of its
        # shards are made), so a shard is the same whichever size asks for it
        return {**self._adv_key(attack, "train", eps), "n": self.params["n_adv_train"],
                "shard_size": self.params["shard_size"]}

    @_on_devices
    def _adversarial_shards(self, attack, eps):
        """The training split's adversarial versions, crafted shard by shard (each shard
        cached on its own, images as 8-bit codes, with per-image distortions), read back
        as compact arrays: ``x_adv_grid8`` (uint8), ``pred_adv``, ``pred_clean``, ``y``,
        ``linf``/``l2``/``l0`` and ``seconds`` (each image's share of its shard's)."""
        p = self.params
        key, n = self._shard_adv_key(attack, eps), self.n_train(attack)
        if p["adv_quantize"] != "8bit":
            raise ValueError("shard_size needs adv_quantize='8bit' (shards store images as "
                             "8-bit codes); set shard_size=None for float images")

        def compute(lo, hi):
            model, x = self.classifier(), self._train_rows(lo, hi)
            y = self.data.y_train[self.subsets["adv_train"][lo:hi]]
            t0 = time.perf_counter()
            xa, info = atk.craft(model, attack, x, eps, p, seed=p["seed"] + lo, progress=False)
            xa = self._quantize(attack, x, xa, eps)
            sec = time.perf_counter() - t0
            return {"x_adv_grid8": to_grid8(xa), "pred_adv": atk.predict(model, xa).argmax(1),
                    "pred_clean": atk.predict(model, x).argmax(1), "y": y,
                    **atk.distortions(x, xa), "seconds": np.full(hi - lo, sec / (hi - lo)),
                    **info}

        ensure_shards(self.store, "adversarial", key, n, p["shard_size"],
                      self._not_cached("adversarial", key) if self.cache_only else compute,
                      f"{attack} (train shards)", self.progress)
        first = self.store.load_arrays("adversarial", shard_key(key, 0, min(n, p["shard_size"])))
        return read_shards(self.store, "adversarial", key, n, p["shard_size"],
                           {k: v.dtype for k, v in first.items()})

    @_on_devices
    def _saliency_shards(self, attack, eps, norm):
        p = self.params
        n, size = p["n_adv_train"], p["shard_size"]
        src = ({"clean": "train", "f": self.f_key, "n": n, "seed": p["seed"]}
               if attack is None else self._shard_adv_key(attack, eps))
        n = n if attack is None else self.n_train(attack)
        key = {"stage": "saliency", "source": src, "norm": norm, "shard_size": size,
               "dtype": "float16"}

        def compute(lo, hi):
            if attack is None:
                x = self._train_rows(lo, hi)
            else:
                adv = self.store.load_arrays("adversarial", shard_key(src, lo, hi))
                if adv is None:
                    self._adversarial_shards(attack, eps)
                    adv = self.store.load_arrays("adversarial", shard_key(src, lo, hi))
                x = from_grid8(adv["x_adv_grid8"])
            return {"s": saliency(self.classifier(), x, norm).astype(np.float16)}

        ensure_shards(self.store, "saliency", key, n, size,
                      self._not_cached("saliency", key) if self.cache_only else compute,
                      f"saliency {attack or 'clean'} (train shards)", self.progress)
        return read_shards(self.store, "saliency", key, n, size, {"s": np.float16})["s"]

    # ------------------------------------------------------------ saliency
    def saliency(self, split, attack=None, eps=None, norm=None):
        """Saliency maps of the clean subset (``attack=None``) or of its
        adversarial version (S_train, S_test, S_train^adv, S_test^adv)."""
        norm = norm or self.params["saliency_norm"]
        if attack is not None:
            eps = self.budget(attack, eps)
        if self.sharded(split):   # float16 maps (advsal.shards)
            return self._saliency_shards(attack, eps, norm)
        src = ({"clean": split, "f": self.f_key, "n": len(self.images(split)[0]),
                "seed": self.params["seed"]} if attack is None
               else self._adv_key(attack, split, eps))
        key = {"stage": "saliency", "source": src, "norm": norm}

        def compute():
            x = self.images(split)[0] if attack is None else \
                self.adversarial(attack, split, eps)["x_adv"]
            return {"s": saliency(self.classifier(), x, norm)}

        return self.cached("saliency", key, compute)["s"]

    # ------------------------------------------------------------ detector
    def features(self, kind, split, attack=None, eps=None):
        """Detector inputs of a subset (clean when ``attack`` is None)."""
        rows = self.feature_rows(kind, split, attack, eps)
        return rows if self.sharded(split) else features_np(kind, self.classifier(),
                                                             *rows.parts[0])

    def feature_rows(self, kind, split, attack=None, eps=None) -> FeatureRows:
        """The same inputs built batch by batch (:class:`advsal.detector_inputs.FeatureRows`):
        what D is scored on, so that no split's inputs are held whole as float32 (F's
        first-layer maps of 9000 CIFAR-10 test images alone take 1.2 GB)."""
        return FeatureRows(kind, self.classifier(), [self._part(input_kind(kind), split,
                                                               attack, eps)])

    def image_rows(self, split, attack, eps=None, adversarial=False) -> FeatureRows:
        """The clean images ``attack`` runs on in a split (:meth:`attacked_images`), or with
        ``adversarial`` their adversarial versions that count as positives
        (:meth:`positives`), as float32 rows decoded batch by batch: the peer detectors
        read the full training split this way instead of as two float32 copies."""
        eps = self.budget(attack, eps)
        n = self.n_attacked(attack, split)
        keep = self.positives(attack, eps, split)[:n] if adversarial else None
        return FeatureRows("image", self.classifier(), [self._part(
            input_kind("image"), split, attack if adversarial else None, eps, n, keep)])

    def _part(self, spec, split, attack, eps, n=None, keep=None):
        # (images, saliency) of a split: its first n images, those of them in the mask
        # ``keep``; the sharded training split's images as 8-bit codes
        if self.sharded(split):
            n = n or self.params["n_adv_train"]
            x = self._train_rows(0, n, codes=True) if attack is None else \
                self.adversarial(attack, "train", eps)["x_adv_grid8"]
        else:
            x = self.images(split)[0] if attack is None else \
                self.adversarial(attack, split, eps)["x_adv"]
        n = n or len(x)
        s = self.saliency(split, attack, eps) if spec.uses_saliency else None
        keep = slice(None) if keep is None else keep
        return x[:n][keep], (None if s is None else s[:n][keep])

    def training_key(self, attack, eps, n_train=None):
        """What fixes any detector's training data: F, the attack and its budget, the
        training subset (seed, size; ``n_train``: its first images only) and which
        adversarial images count as positives."""
        p = self.params
        n_train = self.n_train(attack) if n_train is None else n_train
        sub = {} if n_train == p["n_adv_train"] else {"n_train": int(n_train)}
        return {"f": self.f_key, "attack": attack, "eps": None if eps is None else float(eps),
                "n_adv_train": p["n_adv_train"], **self._attack_params(attack),
                "seed": p["seed"], **self._quant_key(attack, eps=eps),
                "train_positives": p["train_positives"], **sub,
                **({"shard_size": p["shard_size"]} if self.sharded("train") else {})}

    def d_lr(self, kind) -> float:
        """D's learning rate for input ``kind``: ``d_lr_inputs[kind]``, else ``d_lr``."""
        return self.params["d_lr_inputs"].get(kind, self.params["d_lr"])

    def detector_key(self, attack, eps, kind, n_train=None):
        """Cache key of the detector trained on ``attack`` at ``eps`` with input ``kind``
        (on the first ``n_train`` training images and their adversarial versions)."""
        p = self.params
        return {"stage": "detector", **self.training_key(attack, eps, n_train), "features": kind,
                "saliency_norm": p["saliency_norm"] if "saliency" in kind else None,
                "d_epochs": p["d_epochs"], "d_lr": self.d_lr(kind), "d_batch_size": p["d_batch_size"],
                "d_select": p["d_select"],
                **({"n_val": p["n_val"]} if p["d_select"] == "val_loss" else {})}

    def positives(self, attack, eps, split):
        """Which adversarial images of a split count as a detector's positives: all of
        them, or (``train_positives="fooled"``) those fooling F (:meth:`fooled_mask`)."""
        if self.params["train_positives"] == "fooled":
            return self.fooled_mask(attack, eps, split)
        return np.ones(self.n_attacked(attack, split), bool)

    def _labelled_set(self, kind, split, attack, eps, n=None, rows=False):
        """Detector inputs of a split (its first ``n`` images): every clean image (label 0)
        and the adversarial versions that count as positives (label 1, :meth:`positives`);
        for a sharded split, or with ``rows``, as :class:`advsal.detector_inputs.FeatureRows`
        (built batch by batch)."""
        if n is None:
            n = self.n_attacked(attack, split)
        pos = self.positives(attack, eps, split)[:n]
        labels = np.r_[np.zeros(n), np.ones(int(pos.sum()))]
        if self.sharded(split) or rows:
            spec = input_kind(kind)
            return FeatureRows(kind, self.classifier(), [
                self._part(spec, split, None, None, n),
                self._part(spec, split, attack, eps, n, pos)]), labels
        xc = self.features(kind, split)[:n]
        xa = self.features(kind, split, attack, eps)[:n][pos]
        return np.concatenate([xc, xa]), labels

    @_on_devices
    def detector(self, attack, eps=None, features=None, n_train=None):
        """Detector D trained on clean training images and their ``attack``
        versions at ``eps`` (calibrated when None); its epoch is chosen on the
        validation slice (``d_select``). ``n_train``: train on the first ``n_train``
        training images only (a learning curve's point; default :meth:`n_train`)."""
        kind = features or self.params["detector_features"]
        eps = self.budget(attack, eps)
        n_max = self.n_train(attack)
        n_train = n_max if n_train is None else n_train
        if not 1 <= n_train <= n_max:
            raise ValueError(f"n_train={n_train!r} must be in [1, {n_max}] (n_adv_train, or "
                             f"attack_train_sizes[{attack!r}])")
        key = self.detector_key(attack, eps, kind, n_train)
        mkey = str(sorted(key.items()))
        if mkey in self._memory:
            return self._memory[mkey]
        model = self.store.load_model("detector", key)
        if model is None:
            if self.cache_only:
                self._not_cached("detector", key)()
            p = self.params
            # the stages of attacks scored before come back from the disk cache if asked
            # for; held, they added about 1 GB to a full CIFAR-10 D's training peak
            self._memory.drop_large()
            x, labels = self._labelled_set(kind, "train", attack, eps, n_train)
            xv, lv = (self._labelled_set(kind, "val", attack, eps, rows=True)
                      if p["d_select"] == "val_loss" else (None, None))
            t0 = time.perf_counter()
            seed_everything(p["seed"])
            model = build_detector(self.dataset, x.shape[1:], fc_units=p["f_fc_units"])
            hist = train_detector(model, x, labels, p["d_epochs"], self.d_lr(kind),
                                  p["d_batch_size"], seed=p["seed"], x_val=xv, labels_val=lv,
                                  progress=self.progress)
            info = {"history": hist, "train_seconds": time.perf_counter() - t0,
                    "n_train_clean": int((labels == 0).sum()),
                    "n_train_adv": int((labels == 1).sum())}
            self.store.save_model("detector", key, model, extra=info)
        self._memory[mkey] = model
        return model

    def release_detector(self, attack, eps=None, features=None, n_train=None):
        """Drop a detector from memory (it stays in the cache): a learning curve trains
        many, and each held model keeps its optimizer state and compiled functions."""
        kind = features or self.params["detector_features"]
        key = self.detector_key(attack, self.budget(attack, eps), kind, n_train)
        self._memory.pop(str(sorted(key.items())), None)

    @_on_devices
    def scores(self, model, kind, attack=None, eps=None, split="test"):
        """Logits of detector ``model`` on a cached subset (clean when ``attack`` is None),
        its inputs built one batch at a time."""
        return _logits(model, self.feature_rows(kind, split, attack, eps))

    @_on_devices
    def score_images(self, x, det_attack, eps=None, features=None) -> np.ndarray:
        """D's logits on any images ``x`` (floats in [0, 1], the data set's shape),
        e.g. adversarial images crafted elsewhere: D is the detector trained on
        ``det_attack`` at ``eps`` (calibrated when None) with input ``features``, and
        its input is built exactly as for its training data (F's saliency with the
        study's ``saliency_norm``). An image is flagged adversarial when its logit
        exceeds a threshold of :meth:`thresholds`."""
        kind = features or self.params["detector_features"]
        f = self.classifier()
        x = np.asarray(x, np.float32)
        if x.ndim != 4 or x.shape[1:] != tuple(f.input_shape[1:]):
            raise ValueError(f"x has shape {x.shape}; the study's images are (N, "
                             f"{', '.join(map(str, f.input_shape[1:]))})")
        if x.size and (x.min() < 0 or x.max() > 1):
            raise ValueError(f"x must lie in [0, 1]; got [{x.min():.3g}, {x.max():.3g}]")
        d = self.detector(det_attack, eps, kind)
        s = saliency(f, x, self.params["saliency_norm"]) if input_kind(kind).uses_saliency \
            else None
        return _logits(d, features_np(kind, f, x, s))

    def thresholds(self, attack, eps=None, features=None) -> dict:
        """Decision thresholds of a detector (name -> logit; a logit above flags the
        image): ``logit0`` and those flagging 5 % and 1 % of the clean validation
        images (:data:`advsal.metrics.VAL_FPRS`)."""
        kind = features or self.params["detector_features"]
        sv = self.scores(self.detector(attack, eps, kind), kind, split="val")
        return {"logit0": 0.0, **{n: threshold_at_fpr(sv, f) for n, f in VAL_FPRS.items()}}

    def fooled_mask(self, attack, eps=None, split="test"):
        """Adversarial test images that count: F right on x, wrong on x_adv."""
        adv = self.adversarial(attack, split, eps)
        return (adv["pred_clean"] == adv["y"]) & (adv["pred_adv"] != adv["y"])

    def evaluate(self, det_attack, test_attack=None, det_eps=None, test_eps=None,
                 features=None, n_train=None):
        """Detector trained on (det_attack, det_eps) tested on clean test images
        and on the test images that ``test_attack`` made fool F (``n_train``: the
        detector trained on the first ``n_train`` training images, :meth:`detector`)."""
        kind = features or self.params["detector_features"]
        test_attack = test_attack or det_attack
        det_eps = self.budget(det_attack, det_eps)
        test_eps = self.budget(test_attack, test_eps)
        # the detector's whole key: a sibling() study shares this memo
        mkey = ("evaluate", str(sorted(self.detector_key(det_attack, det_eps, kind,
                                                         n_train).items())),
                test_attack, test_eps)
        if mkey in self._memory:
            return self._memory[mkey]
        d = self.detector(det_attack, det_eps, kind, n_train)
        sc = self.scores(d, kind)
        sa = self.scores(d, kind, test_attack, test_eps)[self.fooled_mask(test_attack, test_eps)]
        rep = detection_report(sc, sa, scores_val_clean=self.scores(d, kind, split="val"))
        rep["scores_clean"], rep["scores_adv"] = sc, sa
        rep["n_train"] = self.n_train(det_attack) if n_train is None else n_train
        self._memory[mkey] = rep
        return rep
