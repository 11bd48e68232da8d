"""Loaders of the study's data sets, in ``keras.datasets`` form.

Each data set names its loader in :mod:`advsal.datasets`, whose
``load_dataset(name, data_dir)`` is the entry point. Every loader returns a :class:`Dataset`: ``x`` float32 in [0, 1], NHWC,
``y`` int64 class indices. Sources are looked up in a *data directory*
(argument ``data_dir``, else ``$ADVSAL_DATA_DIR``, else ``~/.keras/datasets``):

=========== ==========================================================
mnist       ``mnist.npz`` (the ``keras.datasets.mnist`` file)
cifar10     ``cifar10.npz`` (written by this module), else the image
            folder ``cifar10-jpeg/`` or ``cifar10-jpeg.tar.gz``, else the
            official ``cifar-10-binary.tar.gz`` (no pickles are read)
imagenette  ``imagenette-128/`` or ``imagenette-128.tar.gz``
            (``<split>/<wnid>/*.JPEG``), also ``imagenette2-160``
imagenet10  the paper's 10 ImageNet classes, read by WordNet ID from a
            user's ImageNet folder (``<root>/<split>/<wnid>/*``)
=========== ==========================================================

A data set missing from the data directory is downloaded there with
``keras.utils.get_file`` unless downloads are off (``download=False`` or
``ADVSAL_OFFLINE=1``), in which case one :class:`DataNotFoundError` says what
to put where. ``.tar.gz`` archives are unpacked once into the cache directory
(``$ADVSAL_CACHE_DIR``, else ``~/.cache/advsal``); decoded image folders are
cached there as ``.npz``. Where the data directory holds a ``SHA256SUMS``
file, every file listed in it is verified before use.
"""
from __future__ import annotations

import functools
import os
import shutil
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import atomic_file
from .cache import make_key, sha256_file

__all__ = ["Dataset", "DataNotFoundError", "DataCorruptError",
           "load_mnist", "load_cifar10", "load_imagenette", "load_imagenet10", "CIFAR10_CLASSES", "IMAGENET10_WNIDS", "IMAGENETTE_WNIDS",
           "data_dir_from", "load_image_folder", "unpack_archive"]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")

# The paper's ten ImageNet classes (Section IV.A), by WordNet ID.
IMAGENET10_WNIDS = {
    "n02137549": "mongoose",
    "n00017222": "plant, flora, plant life",
    "n04612504": "yawl",
    "n02114367": "timber wolf, grey wolf, gray wolf, Canis lupus",
    "n02074367": "dugong, Dugong dugon",
    "n03481172": "hammer",
    "n04356056": "sunglasses, dark glasses, shades",
    "n04505470": "typewriter keyboard",
    "n04486054": "triumphal arch",
    "n07734744": "mushroom",
}

IMAGENETTE_WNIDS = {
    "n01440764": "tench", "n02102040": "English springer",
    "n02979186": "cassette player", "n03000684": "chain saw",
    "n03028079": "church", "n03394916": "French horn",
    "n03417042": "garbage truck", "n03425413": "gas pump",
    "n03445777": "golf ball", "n03888257": "parachute",
}

MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
CIFAR10_BIN_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR10_BIN_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
IMAGENETTE_URL = "https://s3.amazonaws.com/fast-ai-imageclas/imagenette2-160.tgz"


class DataNotFoundError(FileNotFoundError):
    """A data set is neither in the data directory nor downloadable."""


class DataCorruptError(ValueError):
    """A data file exists but is truncated, corrupt or of the wrong schema."""


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple
    source: str

    @property
    def input_shape(self):
        return tuple(self.x_train.shape[1:])

    @property
    def n_classes(self):
        return len(self.class_names)


# ---------------------------------------------------------------- helpers
def data_dir_from(data_dir=None) -> Path:
    """The data directory: argument, else ``$ADVSAL_DATA_DIR``, else Keras's."""
    if data_dir is None or str(data_dir) == "":
        data_dir = os.environ.get("ADVSAL_DATA_DIR") or Path.home() / ".keras" / "datasets"
        Path(data_dir).mkdir(parents=True, exist_ok=True)
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise NotADirectoryError(
            f"data_dir={str(path)!r} does not exist or is not a directory; pass an "
            "existing folder (or set ADVSAL_DATA_DIR) that holds or may receive the data sets")
    return path


def cache_dir_from(cache_dir=None) -> Path:
    path = Path(cache_dir or os.environ.get("ADVSAL_CACHE_DIR")
                or Path.home() / ".cache" / "advsal").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _downloads_allowed(download):
    if download is None:
        return os.environ.get("ADVSAL_OFFLINE", "0") not in ("1", "true", "yes")
    return bool(download)


@functools.lru_cache(maxsize=None)
def _verified(path: str, size: int, mtime: float) -> bool:
    """Check ``path`` against the SHA256SUMS beside it, if it is listed there."""
    sums = Path(path).parent / "SHA256SUMS"
    if not sums.exists():
        return True
    name = Path(path).name
    for line in sums.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == name:
            if sha256_file(path) != parts[0]:
                raise DataCorruptError(
                    f"{path} does not match its SHA256SUMS entry: the file is corrupt or "
                    "truncated; replace it with a fresh copy")
            return True
    return True


def verify_file(path: Path) -> Path:
    st = path.stat()
    _verified(str(path), st.st_size, st.st_mtime)
    return path


def _missing(name, data_dir, wanted, why=""):
    # say what turned downloads off: the environment, or the caller's download=False
    offline = os.environ.get("ADVSAL_OFFLINE", "0") in ("1", "true", "yes")
    allow = ("allow downloads (unset ADVSAL_OFFLINE, which is "
             f"{os.environ.get('ADVSAL_OFFLINE')!r})" if offline
             else "call with download=True")
    raise DataNotFoundError(
        f"data set {name!r} not found in data_dir={str(data_dir)!r} (looked for "
        f"{', '.join(wanted)}) and downloads are {why or 'off'}. Put one of those "
        f"files there, point data_dir / ADVSAL_DATA_DIR at a folder that has it, or "
        f"{allow}.")


def _download(name, data_dir, wanted, **get_file_kw):
    import keras

    try:
        return Path(keras.utils.get_file(cache_dir=str(data_dir), cache_subdir="",
                                         **get_file_kw))
    except Exception as err:  # noqa: BLE001 - network errors come in many types
        _missing(name, data_dir, wanted, why=f"failing ({type(err).__name__}: {err})")


def unpack_archive(archive: Path, cache_dir=None) -> Path:
    """Unpack a ``.tar.gz`` once into the cache; return the folder.

    Extraction goes to a temporary folder that is renamed into place when
    complete, so an interrupted unpack is redone, never half-used.
    """
    archive = verify_file(Path(archive))
    stem = archive.name.split(".tar")[0].split(".tgz")[0]
    target = cache_dir_from(cache_dir) / "unpacked" / f"{stem}-{archive.stat().st_size}"
    if (target / ".complete").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(tmp, filter="data")
    except (tarfile.TarError, EOFError, OSError) as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataCorruptError(f"archive {archive} is corrupt or truncated ({err}); "
                               "replace it with a fresh copy") from err
    (tmp / ".complete").write_text(str(archive))
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    return target


def _find_root(folder: Path, name_prefix: str) -> Path:
    """The folder inside an unpacked archive that holds the split folders."""
    for cand in [folder, *sorted(folder.iterdir())]:
        if cand.is_dir() and cand.name.startswith(name_prefix) or cand == folder:
            if (cand / "train").is_dir():
                return cand
    raise DataCorruptError(f"no '<root>/train/<class>/' folder layout found in {folder}")


def _decode_image(path, image_size):
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        if image_size is not None:
            w, h = im.size
            scale = image_size / min(w, h)
            if (w, h) != (image_size, image_size):
                im = im.resize((max(image_size, round(w * scale)),
                                max(image_size, round(h * scale))), Image.BILINEAR)
                w, h = im.size
                left, top = (w - image_size) // 2, (h - image_size) // 2
                im = im.crop((left, top, left + image_size, top + image_size))
        return np.asarray(im, dtype=np.uint8)


def load_image_folder(root, split, classes, image_size=None, limit_per_class=None,
                      cache_dir=None):
    """Decode ``<root>/<split>/<class>/*`` into uint8 NHWC arrays (cached as .npz).

    ``classes`` fixes the label order (label = index in ``classes``).
    ``image_size`` resizes the short side and centre-crops to a square.
    """
    root = Path(root)
    key = make_key({"root": str(root.resolve()), "split": split, "classes": list(classes),
                    "size": image_size, "limit": limit_per_class})
    cache = cache_dir_from(cache_dir) / "decoded" / f"{root.name}-{split}-{key}.npz"
    if cache.exists():
        try:
            with np.load(cache, allow_pickle=False) as z:
                return z["x"], z["y"]
        except (OSError, ValueError, KeyError):
            cache.unlink()
    xs, ys = [], []
    for label, cls in enumerate(classes):
        folder = root / split / cls
        if not folder.is_dir():
            raise DataNotFoundError(f"class folder {folder} is missing")
        files = sorted(p for p in folder.iterdir() if p.is_file())
        if limit_per_class:
            files = files[:limit_per_class]
        for p in files:
            xs.append(_decode_image(p, image_size))
            ys.append(label)
    if not xs:
        raise DataNotFoundError(f"no images under {root / split}")
    shapes = {a.shape for a in xs}
    if len(shapes) != 1:
        raise DataCorruptError(f"images under {root / split} differ in shape {sorted(shapes)}; "
                               "pass image_size to resize them")
    x, y = np.stack(xs), np.asarray(ys, dtype=np.int64)
    with atomic_file(cache) as fh:
        np.savez(fh, x=x, y=y)
    return x, y


def _read_npz(path: Path, keys):
    verify_file(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise DataCorruptError(f"{path} lacks arrays {missing}; expected {list(keys)}")
            return [z[k] for k in keys]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DataCorruptError(f"{path} is not a readable .npz ({err}); it may be truncated "
                               "or corrupt: replace it with a fresh copy") from err


def _to_float(x):
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.dtype != np.uint8:
        return x.astype(np.float32)
    out = x.astype(np.float32)
    out /= 255.0   # in place: the same float32 values as x / 255, without a second copy
    return out


# ---------------------------------------------------------------- loaders
def load_mnist(data_dir=None, download=None, **_):
    data_dir = data_dir_from(data_dir)
    path = data_dir / "mnist.npz"
    if not path.exists():
        if not _downloads_allowed(download):
            _missing("mnist", data_dir, ["mnist.npz"])
        path = _download("mnist", data_dir, ["mnist.npz"], fname="mnist.npz",
                         origin=MNIST_URL, file_hash=MNIST_SHA256)
    xtr, ytr, xte, yte = _read_npz(path, ["x_train", "y_train", "x_test", "y_test"])
    return Dataset("mnist", _to_float(xtr), ytr.astype(np.int64), _to_float(xte),
                   yte.astype(np.int64), tuple(str(i) for i in range(10)), str(path))


def _cifar_from_binary(archive: Path, cache_dir):
    folder = unpack_archive(archive, cache_dir)
    batches = sorted(folder.rglob("data_batch_*.bin")), sorted(folder.rglob("test_batch.bin"))

    def read(files):
        raw = np.concatenate([np.fromfile(f, dtype=np.uint8) for f in files]).reshape(-1, 3073)
        return raw[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), raw[:, 0].astype(np.int64)

    return (*read(batches[0]), *read(batches[1]))


def load_cifar10(data_dir=None, download=None, cache_dir=None, **_):
    data_dir = data_dir_from(data_dir)
    npz = data_dir / "cifar10.npz"
    wanted = ["cifar10.npz", "cifar10-jpeg/", "cifar10-jpeg.tar.gz", "cifar-10-binary.tar.gz"]
    if npz.exists():
        xtr, ytr, xte, yte = _read_npz(npz, ["x_train", "y_train", "x_test", "y_test"])
        source = str(npz)
    elif (data_dir / "cifar10-jpeg").is_dir() or (data_dir / "cifar10-jpeg.tar.gz").exists():
        root = data_dir / "cifar10-jpeg"
        if not root.is_dir():
            root = _find_root(unpack_archive(data_dir / "cifar10-jpeg.tar.gz", cache_dir),
                              "cifar10")
        xtr, ytr = load_image_folder(root, "train", CIFAR10_CLASSES, cache_dir=cache_dir)
        xte, yte = load_image_folder(root, "test", CIFAR10_CLASSES, cache_dir=cache_dir)
        source = str(root) + " (JPEG copy)"
    else:
        archive = data_dir / "cifar-10-binary.tar.gz"
        if not archive.exists():
            if not _downloads_allowed(download):
                _missing("cifar10", data_dir, wanted)
            archive = _download("cifar10", data_dir, wanted, fname=archive.name,
                                origin=CIFAR10_BIN_URL, file_hash=CIFAR10_BIN_MD5)
        xtr, ytr, xte, yte = _cifar_from_binary(archive, cache_dir)
        with atomic_file(npz) as fh:
            np.savez(fh, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
        source = str(npz)
    return Dataset("cifar10", _to_float(xtr), ytr.astype(np.int64), _to_float(xte),
                   yte.astype(np.int64), CIFAR10_CLASSES, source)


def load_imagenette(data_dir=None, download=None, cache_dir=None, image_size=64,
                    limit_per_class=None, **_):
    """Imagenette (offline stand-in for the paper's subset); train = Imagenette
    train, test = Imagenette val."""
    data_dir = data_dir_from(data_dir)
    root = None
    for stem in ("imagenette-128", "imagenette2-160", "imagenette2-320", "imagenette2"):
        if (data_dir / stem).is_dir():
            root = data_dir / stem
            break
        for ext in (".tar.gz", ".tgz"):
            if (data_dir / f"{stem}{ext}").exists():
                root = _find_root(unpack_archive(data_dir / f"{stem}{ext}", cache_dir),
                                  "imagenette")
                break
        if root is not None:
            break
    if root is None:
        wanted = ["imagenette-128/", "imagenette-128.tar.gz", "imagenette2-160.tgz"]
        if not _downloads_allowed(download):
            _missing("imagenette", data_dir, wanted)
        archive = _download("imagenette", data_dir, wanted, fname="imagenette2-160.tgz",
                            origin=IMAGENETTE_URL)
        root = _find_root(unpack_archive(archive, cache_dir), "imagenette")
    return _wnid_dataset("imagenette", root, IMAGENETTE_WNIDS, image_size, limit_per_class,
                         cache_dir)


def load_imagenet10(data_dir=None, imagenet_dir=None, image_size=224, limit_per_class=None,
                    cache_dir=None, **_):
    """The paper's 10 classes from a user's ImageNet folder (``<root>/train|val/<wnid>``).

    ``imagenet_dir`` (or ``$ADVSAL_IMAGENET_DIR``, or ``<data_dir>/imagenet``)
    must hold ``train/`` and ``val/`` with one folder per WordNet ID; ImageNet
    is not downloadable. The test split is ImageNet's validation images.
    """
    root = Path(imagenet_dir or os.environ.get("ADVSAL_IMAGENET_DIR")
                or data_dir_from(data_dir) / "imagenet")
    if not (root / "train").is_dir():
        raise DataNotFoundError(
            f"ImageNet folder {str(root)!r} not found: imagenet10 needs a local ImageNet copy "
            f"with train/<wnid>/ and val/<wnid>/ for the WordNet IDs {sorted(IMAGENET10_WNIDS)}; "
            "set imagenet_dir or ADVSAL_IMAGENET_DIR, or use dataset='imagenette'")
    return _wnid_dataset("imagenet10", root, IMAGENET10_WNIDS, image_size, limit_per_class,
                         cache_dir)


def _wnid_dataset(name, root, wnids, image_size, limit_per_class, cache_dir):
    """train = ``<root>/train``, test = ``<root>/val``; labels in the order of ``wnids``."""
    kw = dict(image_size=image_size, limit_per_class=limit_per_class, cache_dir=cache_dir)
    xtr, ytr = load_image_folder(root, "train", tuple(wnids), **kw)
    xte, yte = load_image_folder(root, "val", tuple(wnids), **kw)
    return Dataset(name, _to_float(xtr), ytr, _to_float(xte), yte, tuple(wnids.values()),
                   str(root))
