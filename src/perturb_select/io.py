"""Whole-or-nothing file output, input errors that name the file and field, and the one container format.

Every output of the pipeline is written to a temporary file in the destination directory and renamed
into place (``os.replace`` is atomic on POSIX), so a killed job never leaves a partial file behind.

Binary results (the graph, the screen arrays, predictions, pool scores, kernels) are ``.npz`` containers
written by :func:`save_container` and read by :func:`load_container`: uncompressed, no pickles, a format
tag naming what the file is, the arrays, and an optional ``info`` dict as a JSON string. One reader gives
every container the same checks and the same errors.

This module imports numpy and pandas only inside the functions that need them, so ``InputError`` is
cheap to import (the command line's ``--help``, the Snakefile).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator, Mapping, Sequence


class InputError(ValueError):
    """Bad input: the message names the file (or config key) and the field at fault."""

    def __init__(self, source: str | os.PathLike, field: str | None, problem: str):
        self.source = str(source)
        self.field = field
        self.problem = problem
        where = f"{self.source}" + (f", field '{field}'" if field else "")
        super().__init__(f"{where}: {problem}")


#: Longest file name most file systems take (bytes); the temporary name beside an output must fit too.
NAME_MAX = 255


def check_output(path: str | os.PathLike) -> None:
    """Refuse an output that cannot be (re)written, before any work: an existing file that is
    write-protected (no write bit, e.g. 0444, or not writable by this user; refused even for root, as
    ``rm`` asks first), or a name longer than the file system takes.

    Raises
    ------
    InputError
        Naming the path and the problem.
    """
    import stat

    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    if len(os.fsencode(path.name)) > NAME_MAX:
        raise InputError(path, None, f"file name longer than {NAME_MAX} bytes")
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # absent: created
    if stat.S_ISREG(mode) and (not mode & 0o222 or not os.access(path, os.W_OK)):
        raise InputError(
            path,
            None,
            f"is write-protected (mode {stat.S_IMODE(mode):04o}): refusing to replace it; "
            "make it writable or choose another name",
        )


def _temporary_prefix(name: str) -> str:
    """``.<name>.`` shortened so that mkstemp's name (prefix, 8 random characters, ``.tmp``) fits NAME_MAX."""
    room = NAME_MAX - 8 - len(".tmp") - 2
    while len(os.fsencode(name)) > room:
        name = name[:-1]
    return f".{name}."


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds.

    The parent directory is created if missing. On any exception the temporary file is removed and
    ``path`` is left untouched (absent if it did not exist). The file gets the permissions a plain
    ``open()`` would give it: an existing file's mode is kept, a new file gets the umask's (``mkstemp``
    alone would make it 0600); a write-protected existing file is refused (:func:`check_output`). A
    symbolic link is written through to its target; a FIFO or character device (``>(cmd)``,
    ``/dev/stdout``) is written to directly, as a stream (there is nothing to replace atomically). An
    ``OSError`` that names no file (``/dev/full``: no space left) is raised again naming ``path``.
    """
    path = Path(path)
    if path.is_symlink():  # write through to the link's target; replacing would break the link
        path = Path(os.path.realpath(path))
    if is_stream(path):  # a FIFO or device (e.g. >(cat), /dev/stdout): write to it as a stream
        with _naming_the_file(path):
            yield path
        return
    check_output(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = os.stat(path).st_mode & 0o7777
    except OSError:  # new: what a plain open() would give it under the umask
        mode = 0o666 & ~_current_umask()
    fd, tmp = tempfile.mkstemp(prefix=_temporary_prefix(path.name), suffix=".tmp", dir=path.parent)
    os.fchmod(fd, mode)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        with _naming_the_file(path):
            yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _naming_the_file(path: Path) -> Iterator[None]:
    """Re-raise an ``OSError`` without a file name (a write's ENOSPC, EIO) as one naming ``path``."""
    try:
        yield
    except OSError as err:
        if err.filename is not None or err.errno is None:
            raise
        raise OSError(err.errno, err.strerror or str(err), str(path)) from None


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


def physical_memory() -> int:
    """Bytes of physical memory of this machine (``sysconf``; 0 where it cannot be read)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return 0


def check_memory(need: float, source: str, field: str | None, what: str, limit: int | None = None) -> None:
    """Refuse a setting whose estimated memory is more than the machine has, before allocating it (a
    ``MemoryError`` traceback, or the kernel's OOM killer, would name nothing).

    Parameters
    ----------
    need : float
        Estimated bytes.
    source, field : str
        What :class:`InputError` names: the config (``"config"``) and the key that sets the size.
    what : str
        What needs the memory, e.g. ``"the simulated counts"``.
    limit : int, optional
        Bytes allowed (default: :func:`physical_memory`; no check where it is unknown).

    Raises
    ------
    InputError
        ``need`` above ``limit``, both in GB.
    """
    limit = physical_memory() if limit is None else int(limit)
    if limit and need > limit:
        raise InputError(
            source,
            field,
            f"{what} need about {need / 1e9:,.1f} GB, more than this machine's {limit / 1e9:,.1f} GB: lower it",
        )


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """``open`` for writing that publishes the file only when the block completes (see atomic_path)."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as handle:
            yield handle


# --------------------------------------------------------------------------------------------------
# Text inputs, plain or gzipped
# --------------------------------------------------------------------------------------------------

CHUNK_BYTES = 1 << 20


def is_gzip(path: str | os.PathLike) -> bool:
    """True when the file starts with the gzip magic bytes (told by content, not by name)."""
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def open_text(path: str | os.PathLike, source_label=None) -> IO[str]:
    """Open a plain or gzipped (detected by its magic bytes) UTF-8 text file.

    Raises
    ------
    InputError
        The file is missing (source ``source_label`` or the path).
    """
    import gzip

    path = Path(path)
    if not path.is_file():
        raise InputError(source_label or path, None, "file not found")
    if is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, "r", encoding="utf-8", newline="")


def gzip_intact(path: str | os.PathLike) -> bool:
    """True when the whole gzip stream decompresses and its CRC checks (a bit flip can pass the header)."""
    import gzip
    import zlib

    try:
        with gzip.open(path, "rb") as handle:
            while handle.read(CHUNK_BYTES):
                pass
    except (OSError, EOFError, zlib.error):
        return False
    return True


# --------------------------------------------------------------------------------------------------
# Tables and JSON
# --------------------------------------------------------------------------------------------------


def read_tsv(path: str | os.PathLike, **kwargs):
    """``pandas.read_csv(path, sep='\\t', **kwargs)``; an unparsable or binary file is an ``InputError`` naming it."""
    import pandas as pd

    try:
        return pd.read_csv(path, sep="\t", **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(path, None, f"not a readable tab-separated table ({type(err).__name__}: {err})") from None


def write_tsv(frame, path: str | os.PathLike, **kwargs) -> None:
    """Write the DataFrame ``frame`` as a tab-separated file without index, atomically."""
    kwargs.setdefault("index", False)
    with atomic_open(path, "w", newline="") as handle:
        frame.to_csv(handle, sep="\t", **kwargs)


def write_json(obj, path: str | os.PathLike) -> None:
    """Write ``obj`` (numpy values allowed, :func:`to_jsonable`) as indented, key-sorted JSON, atomically."""
    with atomic_open(path, "w") as handle:
        json.dump(to_jsonable(obj), handle, indent=2, sort_keys=True)
        handle.write("\n")


def read_json(path: str | os.PathLike):
    """Parse a JSON file; a truncated or corrupt file is an ``InputError`` naming it (not a traceback)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(path, None, f"not valid JSON ({err})") from None


def to_jsonable(value):
    """``value`` with numpy scalars and arrays turned into Python numbers and lists, recursively
    (dict keys become ``str``; tuples become lists). The one converter for every JSON the project writes."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.str_):
        return str(value)
    return value


# --------------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------------

FIGURE_FORMATS = ("svg", "png", "pdf")


def save_figure(fig, path: str | os.PathLike, fmt: str = "svg") -> None:
    """Write a matplotlib figure atomically, reproducibly: the same numbers give the same file.

    ``svg``: text kept as text (searchable), a fixed hash salt for element ids and no date; ``pdf``: no
    creation date; ``png``: 150 dpi. The figure is left open (the caller closes it).
    """
    import matplotlib.pyplot as plt

    if fmt not in FIGURE_FORMATS:
        raise ValueError(f"figure format must be one of {FIGURE_FORMATS}, got {fmt!r}")
    with atomic_path(path) as tmp:
        with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "perturb-select"}):
            if fmt == "svg":
                fig.savefig(tmp, format="svg", metadata={"Date": None})
            elif fmt == "pdf":
                fig.savefig(tmp, format="pdf", metadata={"CreationDate": None})
            else:
                fig.savefig(tmp, format="png", dpi=150)


# --------------------------------------------------------------------------------------------------
# The npz container
# --------------------------------------------------------------------------------------------------

FORMAT_KEY = "format"
INFO_KEY = "info"


def save_container(path: str | os.PathLike, format_tag: str, arrays: Mapping, info: Mapping | None = None) -> None:
    """Write a container: an uncompressed ``.npz`` with the format tag, ``arrays`` and ``info`` as JSON.

    Parameters
    ----------
    path : path-like
        Written atomically (:func:`atomic_open`).
    format_tag : str
        Names the kind and version of the file (``'perturb-select predictions v1'``); checked on reading.
    arrays : mapping of str to array-like
        Saved in ``numpy.savez``'s layout, in the given order, with a fixed zip member time (the same arrays
        give the same bytes; no object arrays: nothing is pickled).
    info : mapping, optional
        JSON-ready provenance (:func:`to_jsonable` applied), stored as the string array ``info``.
    """
    import numpy as np

    reserved = {FORMAT_KEY, INFO_KEY} & set(arrays)
    if reserved:
        raise ValueError(f"array names {sorted(reserved)} are reserved")
    payload = {FORMAT_KEY: np.array(format_tag)}
    payload.update(arrays)
    if info is not None:
        payload[INFO_KEY] = np.array(json.dumps(to_jsonable(dict(info)), sort_keys=True))
    with atomic_open(path, "wb") as handle:
        _write_npz(handle, payload)


#: The zip member time every container is written with: numpy's savez stamps the wall clock, so the same
#: arrays gave different bytes on every run.
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)


def _write_npz(handle, arrays: Mapping) -> None:
    """``numpy.savez``'s layout (an uncompressed zip of ``<name>.npy`` members, no pickles) with a fixed member
    time, so that the same arrays always give the same bytes (``numpy.load`` reads it as any ``.npz``)."""
    import zipfile

    import numpy as np

    with zipfile.ZipFile(handle, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, value in arrays.items():
            member = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_TIMESTAMP)
            member.compress_type = zipfile.ZIP_STORED
            with archive.open(member, mode="w", force_zip64=True) as out:
                np.lib.format.write_array(out, np.asanyarray(value), allow_pickle=False)


def load_container(
    path: str | os.PathLike, format_tag: str, required: Sequence[str], optional: Sequence[str] = (), *, hint: str = ""
) -> tuple[dict, dict]:
    """Read a :func:`save_container` file: ``(arrays, info)``.

    Parameters
    ----------
    path : path-like
    format_tag : str
        The tag the file must carry.
    required : sequence of str
        Arrays that must be present; ``optional`` ones are returned when present.
    hint : str
        Appended to the format error (e.g. ``'rerun preprocess_dataset'``).

    Returns
    -------
    arrays : dict of str to numpy.ndarray
        The required and present optional arrays, fully read.
    info : dict
        The parsed ``info`` (empty when the file has none).

    Raises
    ------
    InputError
        Naming the file: not a readable ``.npz`` (missing, empty, truncated, corrupt), another format tag
        (field ``format``), a missing array (field: its name), ``info`` that is not JSON (field ``info``).
    """
    import zipfile

    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise InputError(path, None, "not an .npz container (a single array)")
            tag = str(data[FORMAT_KEY]) if FORMAT_KEY in data.files else None
            if tag != format_tag:
                what = f"its format is {tag!r}" if tag else "it has no format tag"
                raise InputError(
                    path, FORMAT_KEY, f"not a {format_tag!r} file ({what})" + (f"; {hint}" if hint else "")
                )
            missing = [name for name in required if name not in data.files]
            if missing:
                raise InputError(path, missing[0], "array missing from the file")
            arrays = {name: data[name] for name in (*required, *optional) if name in data.files}
            text = str(data[INFO_KEY]) if INFO_KEY in data.files else None
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError(path, None, "file not found") from None
    except ValueError as err:
        if "pickle" in str(err):  # numpy's guess for any file that is neither a zip nor an .npy: a text file
            raise InputError(path, None, "not an .npz file (neither a zip archive nor a numpy array file)") from None
        raise InputError(path, None, f"not a readable .npz file ({type(err).__name__}: {err})") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as err:
        raise InputError(path, None, f"not a readable .npz file ({type(err).__name__}: {err})") from None
    if text is None:
        return arrays, {}
    try:
        info = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(path, INFO_KEY, f"not valid JSON ({err})") from None
    return arrays, info
