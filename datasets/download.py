"""torchvision-style download with integrity checks (md5), plus archive extraction.

``urllib`` handles ``http(s)://`` and ``file://`` alike, so the real code path is
testable on a machine without network access.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from .errors import DataError, IntegrityError, reading


class DownloadError(DataError):
    """No network, or the server refused: say so in one line (exit 2), not a traceback."""


def md5sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_md5(path: str | os.PathLike, md5: str | None) -> bool:
    return Path(path).is_file() and (md5 is None or md5sum(path) == md5)


def download_url(url: str, root: str | os.PathLike, filename: str, md5: str | None) -> Path:
    """Download ``url`` to ``root/filename`` unless a file with the right md5 is there.

    Writes to a temporary file and renames it, so an interrupted download never
    leaves a half file that looks complete. Raises ``IntegrityError`` on a bad checksum.
    """
    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    dest = root / filename
    if check_md5(dest, md5):
        return dest
    fd, tmp = tempfile.mkstemp(dir=root, prefix=f".{filename}.", suffix=".part")
    try:
        req = urllib.request.Request(url, headers={"User-Agent": "meta-benchmark"})
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(req, timeout=60) as resp:
                shutil.copyfileobj(resp, out, 1 << 20)
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise DownloadError(f"cannot download {url} ({reason}); check the network, or download it by hand "
                                f"into {root} (without --download)") from None
        if md5 is not None and md5sum(tmp) != md5:
            raise IntegrityError(
                f"downloaded {url} but its md5 does not match {md5}; delete {dest} and retry, "
                "or download it by hand into that folder"
            )
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def extract_archive(archive: str | os.PathLike, dest: str | os.PathLike) -> None:
    """Extract a .tar(.gz) or .zip archive into ``dest`` (refusing paths that escape it)."""
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with reading(archive):
        _extract(archive, dest)


def _extract(archive: Path, dest: Path) -> None:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if not (dest / name).resolve().is_relative_to(dest.resolve()):
                    raise IntegrityError(f"{archive} contains an unsafe path {name!r}")
            zf.extractall(dest)
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(dest, filter="data")


def download_and_extract(url: str, root: str | os.PathLike, filename: str, md5: str | None) -> None:
    archive = download_url(url, root, filename, md5)
    extract_archive(archive, root)
