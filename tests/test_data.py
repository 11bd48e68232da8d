import io
import tarfile

import numpy as np
import pytest

from advsal.data import (CIFAR10_CLASSES, DataCorruptError, DataNotFoundError, load_image_folder,
                         unpack_archive)
from advsal.datasets import load_dataset


def test_mnist_schema(mnist):
    assert mnist.x_train.shape == (60000, 28, 28, 1) and mnist.x_test.shape == (10000, 28, 28, 1)
    assert mnist.x_train.dtype == np.float32
    assert mnist.x_train.min() == 0.0 and mnist.x_train.max() == 1.0
    assert set(np.unique(mnist.y_train)) == set(range(10))
    assert mnist.y_test.shape == (10000,)


def test_cifar10_from_jpeg_archive(data_dir, tmp_path, monkeypatch):
    d = load_dataset("cifar10", data_dir)
    assert d.x_train.shape == (50000, 32, 32, 3) and d.x_test.shape == (10000, 32, 32, 3)
    assert d.x_train.dtype == np.float32 and 0 <= d.x_train.min() and d.x_train.max() <= 1
    assert np.bincount(d.y_train).tolist() == [5000] * 10
    assert d.class_names == CIFAR10_CLASSES
    # per-channel means of CIFAR-10 (125.3, 122.9, 113.9 on the 0..255 scale)
    means = d.x_test.mean(axis=(0, 1, 2), dtype=np.float64) * 255
    assert np.allclose(means, [125.3, 122.9, 113.9], atol=3)


def test_imagenette_stand_in(data_dir):
    d = load_dataset("imagenette", data_dir, image_size=32, limit_per_class=3)
    assert d.x_train.shape == (30, 32, 32, 3) and d.x_test.shape == (30, 32, 32, 3)
    assert np.bincount(d.y_train).tolist() == [3] * 10


def _image_folder_tar(path, n_per_class=3, size=8):
    from PIL import Image

    with tarfile.open(path, "w:gz") as tar:
        for split in ("train", "test"):
            for c, cls in enumerate(("a", "b")):
                for i in range(n_per_class):
                    img = Image.fromarray(np.full((size, size, 3), 40 * c + i, np.uint8))
                    buf = io.BytesIO()
                    img.save(buf, format="PNG")
                    info = tarfile.TarInfo(f"toy/{split}/{cls}/{i}.png")
                    info.size = buf.tell()
                    buf.seek(0)
                    tar.addfile(info, buf)


def test_archive_unpacking_and_image_folder(tmp_path):
    archive = tmp_path / "toy.tar.gz"
    _image_folder_tar(archive)
    folder = unpack_archive(archive, cache_dir=tmp_path / "cache")
    assert (folder / ".complete").exists()
    assert unpack_archive(archive, cache_dir=tmp_path / "cache") == folder  # reused
    x, y = load_image_folder(folder / "toy", "train", ("a", "b"), cache_dir=tmp_path / "cache")
    assert x.shape == (6, 8, 8, 3) and y.tolist() == [0, 0, 0, 1, 1, 1]
    assert x[3, 0, 0, 0] == 40


def test_missing_dataset_error_names_what_turned_downloads_off(tmp_path, monkeypatch):
    monkeypatch.delenv("ADVSAL_OFFLINE", raising=False)
    with pytest.raises(DataNotFoundError, match="call with download=True") as err:
        load_dataset("mnist", tmp_path, download=False)
    assert "ADVSAL_OFFLINE" not in str(err.value)
    monkeypatch.setenv("ADVSAL_OFFLINE", "1")
    with pytest.raises(DataNotFoundError, match="unset ADVSAL_OFFLINE, which is '1'"):
        load_dataset("mnist", tmp_path)


def test_missing_dataset_offline_one_clear_error(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"'mnist' not found in data_dir=.*mnist\.npz"):
        load_dataset("mnist", tmp_path, download=False)
    with pytest.raises(DataNotFoundError, match="cifar10"):
        load_dataset("cifar10", tmp_path, download=False)


def test_data_dir_must_exist(tmp_path):
    with pytest.raises(NotADirectoryError, match="data_dir="):
        load_dataset("mnist", tmp_path / "nope")


def test_unknown_dataset():
    with pytest.raises(ValueError, match=r"dataset='svhn'.*allowed.*mnist"):
        load_dataset("svhn")


def test_corrupt_npz(tmp_path):
    (tmp_path / "mnist.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataCorruptError, match="truncated or corrupt"):
        load_dataset("mnist", tmp_path, download=False)


def test_npz_with_pickled_object_is_refused(tmp_path):
    np.savez(tmp_path / "mnist.npz", x_train=np.array([{"a": 1}], dtype=object),
             y_train=np.zeros(1), x_test=np.zeros(1), y_test=np.zeros(1))
    with pytest.raises(DataCorruptError):
        load_dataset("mnist", tmp_path, download=False)


def test_truncated_archive(tmp_path):
    archive = tmp_path / "toy.tar.gz"
    _image_folder_tar(archive, n_per_class=30, size=32)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataCorruptError, match="corrupt or truncated"):
        unpack_archive(archive, cache_dir=tmp_path / "cache")


def test_checksum_mismatch_detected(tmp_path):
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((1, 28, 28), np.uint8),
             y_train=np.zeros(1, np.uint8), x_test=np.zeros((1, 28, 28), np.uint8),
             y_test=np.zeros(1, np.uint8))
    (tmp_path / "SHA256SUMS").write_text("0" * 64 + "  mnist.npz\n")
    with pytest.raises(DataCorruptError, match="SHA256SUMS"):
        load_dataset("mnist", tmp_path, download=False)
    import hashlib
    digest = hashlib.sha256((tmp_path / "mnist.npz").read_bytes()).hexdigest()
    (tmp_path / "SHA256SUMS").write_text(f"{digest}  mnist.npz\n")
    assert load_dataset("mnist", tmp_path, download=False).x_train.shape == (1, 28, 28, 1)


def test_images_become_the_same_floats_without_a_second_copy():
    """8-bit images become x / 255 in float32, bit for bit (divided in place, so that
    loading CIFAR-10 does not hold two float32 copies of its training set at once)."""
    from advsal.data import _to_float

    x = np.arange(256, dtype=np.uint8).reshape(16, 4, 4)
    np.testing.assert_array_equal(_to_float(x), (x.astype(np.float32) / 255.0)[..., None])
    assert _to_float(x).dtype == np.float32 and _to_float(x).max() == 1.0
    f = np.linspace(0, 1, 12).reshape(1, 2, 2, 3)
    np.testing.assert_array_equal(_to_float(f), f.astype(np.float32))
