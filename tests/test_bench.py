"""The benchmark's FLOP counts, on which its share-of-peak and floor figures rest."""
import pytest

from advsal.bench import conv_flops, training_floor


def test_conv_flops_counts_multiply_adds_by_hand():
    import keras

    inp = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, padding="same")(inp)
    out = keras.layers.Dense(5)(keras.layers.Flatten()(h))
    model = keras.Model(inp, out)
    assert conv_flops(model) == 2 * 8 * 8 * 4 * 3 * 3 * 3 + 2 * 8 * 8 * 4 * 5


def test_mnist_net_forward_is_about_39_mflop():
    from advsal.networks import build_classifier

    assert conv_flops(build_classifier("mnist", (28, 28, 1))) == pytest.approx(39.1e6, rel=0.01)


def test_training_floor_follows_the_preset():
    from advsal.presets import resolve_params

    quick = training_floor("mnist", (28, 28, 1), peak=100.0)
    n_attacks = len(resolve_params("mnist", "quick")["attacks"])
    # notebook 04 (one per attack), 05 (3 attacks x 2 more levels), 07 (2 attacks x 3 more inputs)
    assert quick["detectors"] == n_attacks + 3 * 2 + 2 * 3
    smoke = training_floor("mnist", (28, 28, 1), peak=100.0, preset="smoke")
    assert smoke["seconds_at_peak"] < quick["seconds_at_peak"] / 10
    halved = training_floor("mnist", (28, 28, 1), peak=200.0)
    assert halved["seconds_at_peak"] == pytest.approx(quick["seconds_at_peak"] / 2)


def test_memory_probe_prints_the_peak_after_each_step(tmp_path, data_dir, capsys):
    import re

    from advsal.memory_probe import main

    main(["--dataset", "mnist", "--preset", "smoke", "--attack", "fgsm", "--d-epochs", "1",
          "--data-dir", str(data_dir), "--artefact-dir", str(tmp_path)])
    out = capsys.readouterr().out
    peaks = [float(v) for v in re.findall(r"peak (\d+\.\d\d) GB", out)]
    assert len(peaks) == 3 and 0 < peaks[0] <= peaks[1] <= peaks[2], out
    assert "D trained and scored (AUC" in out and "detector x1 in" in out
