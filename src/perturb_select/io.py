"""Whole-or-nothing file output and input errors that name the file and field.

Every output of the pipeline is written to a temporary file in the destination directory and renamed
into place (``os.replace`` is atomic on POSIX), so a killed job never leaves a partial file behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

import pandas as pd


class InputError(ValueError):
    """Bad input: the message names the file (or config key) and the field at fault."""

    def __init__(self, source: str | os.PathLike, field: str | None, problem: str):
        self.source = str(source)
        self.field = field
        self.problem = problem
        where = f"{self.source}" + (f", field '{field}'" if field else "")
        super().__init__(f"{where}: {problem}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds.

    The parent directory is created if missing. On any exception the temporary file is removed and
    ``path`` is left untouched (absent if it did not exist). The file gets the permissions a plain
    ``open()`` would give it under the current umask (``mkstemp`` alone would make it 0600). A symbolic
    link is written through to its target; a FIFO or character device (``>(cmd)``, ``/dev/stdout``) is
    written to directly, as a stream (there is nothing to replace atomically).
    """
    path = Path(path)
    if path.is_symlink():  # write through to the link's target; replacing would break the link
        path = Path(os.path.realpath(path))
    if is_stream(path):  # a FIFO or device (e.g. >(cat), /dev/stdout): write to it as a stream
        yield path
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    # mkstemp creates the file with mode 0600; give it what a plain open() would under the umask.
    os.fchmod(fd, 0o666 & ~_current_umask())
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def is_stream(path: str | os.PathLike) -> bool:
    """True for a FIFO or character device (written as a stream, never replaced); False if absent."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


def _current_umask() -> int:
    """The process's umask (read by setting it and restoring it at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """``open`` for writing that publishes the file only when the block completes (see atomic_path)."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as handle:
            yield handle


def read_tsv(path: str | os.PathLike, **kwargs) -> pd.DataFrame:
    """``pandas.read_csv(path, sep='\\t', **kwargs)``; an unparsable or binary file is an ``InputError`` naming it."""
    try:
        return pd.read_csv(path, sep="\t", **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(path, None, f"not a readable tab-separated table ({type(err).__name__}: {err})") from None


def write_tsv(frame: pd.DataFrame, path: str | os.PathLike, **kwargs) -> None:
    """Write ``frame`` as a tab-separated file without index, atomically."""
    kwargs.setdefault("index", False)
    with atomic_open(path, "w", newline="") as handle:
        frame.to_csv(handle, sep="\t", **kwargs)


def write_json(obj, path: str | os.PathLike) -> None:
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    with atomic_open(path, "w") as handle:
        json.dump(obj, handle, indent=2, sort_keys=True, default=_json_default)
        handle.write("\n")


def read_json(path: str | os.PathLike):
    """Parse a JSON file; a truncated or corrupt file is an ``InputError`` naming it (not a traceback)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(path, None, f"not valid JSON ({err})") from None


def _json_default(value):
    import numpy as np

    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
