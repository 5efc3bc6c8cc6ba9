"""User-facing data errors: one line that says what to do."""
from __future__ import annotations

import contextlib
import tarfile
import zipfile
import zlib
from collections.abc import Iterator


class DataError(RuntimeError):
    """Base class; ``str(err)`` is the one line shown to the user."""


class DataNotFoundError(DataError):
    pass


class IntegrityError(DataError):
    pass


class UnknownDatasetError(DataError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class CorruptDataError(DataError):
    pass


@contextlib.contextmanager
def reading(source) -> Iterator[None]:
    """Turn an archive library's error while reading ``source`` into one line that names
    the file and what to do."""
    try:
        yield
    except DataError:
        raise
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError, ValueError) as e:
        first = (str(e).splitlines() or [""])[0].rstrip(":")
        raise CorruptDataError(f"{source} is not a readable archive or folder ({type(e).__name__}: {first}); "
                               "download it again or point --data-root at the right file") from None
