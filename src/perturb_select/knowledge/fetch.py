"""Inputs from a local mirror or the network, checked and published whole: GO files, datasets, archives.

* :func:`fetch_source` copies an input from a local mirror or downloads it (sha256-checked, atomic);
* :func:`fetch_input` is what the fetch stages run: a source without a URL must come from the mirror, and an
  archive (GEARS's Dataverse zips) gives up only the member asked for;
* :func:`extract_member` takes one file out of a zip or tar archive (cell-gears's ``PertData.load`` reads
  ``<name>/perturb_processed.h5ad`` from the zip it downloads), refusing any archive with a member outside
  the target folder (absolute, ``..``) or a link, and publishes it atomically.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import stat
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO, Mapping

from ..io import CHUNK_BYTES, InputError, atomic_path

logger = logging.getLogger("perturb_select")

#: The member cell-gears reads from each dataset archive (``gears/pertdata.py::PertData.load``).
PROCESSED_NAME = "perturb_processed.h5ad"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _copy_hashing(source: IO[bytes], target: Path) -> str:
    """Copy a binary stream into ``target`` and return the hex sha256 of what was copied."""
    digest = hashlib.sha256()
    with open(target, "wb") as out:
        while True:
            block = source.read(CHUNK_BYTES)
            if not block:
                break
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def _normalise_sha256(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    value = sha256.strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise InputError("sha256", "sha256", f"not a 64-digit hexadecimal sha256: {sha256!r}")
    return value


def fetch_source(
    url: str,
    destination: str | os.PathLike,
    *,
    mirror: str | os.PathLike | None = None,
    mirror_name: str | None = None,
    sha256: str | None = None,
    timeout: float = 60,
) -> Path:
    """Copy an input file from a local mirror, or download it, into ``destination``.

    The mirror file ``mirror / mirror_name`` is used when it exists; otherwise ``url`` is downloaded
    with :func:`urllib.request.urlopen` (``http``, ``https`` and ``file`` URLs). The bytes are
    hashed while they are copied and checked against ``sha256`` when one is given. The destination is
    published atomically (:func:`perturb_select.io.atomic_path`): on any error neither the
    destination nor a temporary file is left behind. Which source was used is logged on the
    ``perturb_select`` logger.

    Parameters
    ----------
    url : str
        Canonical source, e.g. ``https://ftp.ncbi.nih.gov/gene/DATA/gene2go.gz``.
    destination : path-like
        File to write; parent directories are created.
    mirror : path-like, optional
        Directory holding pre-downloaded copies (offline machines).
    mirror_name : str, optional
        File name inside ``mirror``; default: the last path component of ``url``.
    sha256 : str, optional
        Expected hex digest of the file (case-insensitive). A mirror file that does not match is
        an error, not a reason to fall back to the URL: a wrong mirror should be fixed, not hidden.
    timeout : float
        Seconds to wait for the server to connect and for each read.

    Returns
    -------
    pathlib.Path
        ``destination``.

    Raises
    ------
    InputError
        Field ``'sha256'``: the checksum is malformed or does not match (source: the mirror file or
        the URL). Field ``'url'``: the mirror file is missing (or no mirror was given) and the
        download failed (HTTP error, refused connection, timeout, unknown URL scheme); the message
        names the URL and the mirror path that was tried.
    """
    destination = Path(destination)
    expected = _normalise_sha256(sha256)
    tried = None
    if mirror is not None:
        candidate = _mirror_path(url, mirror, mirror_name)
        if candidate.is_file():
            with atomic_path(destination) as tmp:
                with open(candidate, "rb") as handle:
                    digest = _copy_hashing(handle, tmp)
                _check_digest(digest, expected, candidate)
            logger.info("fetched %s from mirror %s", destination, candidate)
            return destination
        tried = candidate
        logger.info("mirror file %s not found; downloading %s", candidate, url)
    with atomic_path(destination) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                digest = _copy_hashing(response, tmp)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            # URLError/HTTPError and socket timeouts are OSErrors; ValueError: unknown URL type.
            where = f"; mirror file {tried} not found" if tried is not None else ""
            raise InputError(url, "url", f"download failed: {exc}{where}") from exc
        _check_digest(digest, expected, url)
    logger.info("fetched %s from %s", destination, url)
    return destination


def _mirror_path(url: str, mirror: str | os.PathLike, mirror_name: str | None) -> Path:
    """The mirror copy of ``url``: ``mirror / mirror_name``, by default the URL's last path component."""
    return Path(mirror) / (mirror_name or PurePosixPath(urllib.parse.urlparse(url).path).name)


def mirror_copy(url: str | None, mirror: str | os.PathLike | None, mirror_name: str | None) -> Path | None:
    """The mirror file a fetch reads first (``mirror / mirror_name``, by default the URL's last path
    component), when it is there; else None. The workflow makes it an input, so a replaced mirror file is
    fetched again."""
    if not mirror or not (mirror_name or url):
        return None
    path = _mirror_path(url or "", mirror, mirror_name)
    return path if path.is_file() else None


def go_source(go: Mapping, key: str) -> dict:
    """The fetch arguments of GO file ``key`` (``gene2go``, ``obo``, ``gene_info``) from the config's ``go:``
    block: ``url``, ``mirror``, ``mirror_name`` and ``sha256`` (the last two None when not given)."""
    source = go["sources"][key]
    return {
        "url": source["url"],
        "mirror": go.get("mirror"),
        "mirror_name": source.get("mirror_name"),
        "sha256": source.get("sha256"),
    }


def _check_digest(digest: str, expected: str | None, source) -> None:
    if expected is not None and digest != expected:
        raise InputError(source, "sha256", f"checksum mismatch: expected {expected}, got {digest}")


def fetch_input(
    output: str | os.PathLike,
    url: str | None,
    mirror: str | os.PathLike | None,
    mirror_name: str | None,
    sha256: str | None,
    archive_member: str | None = None,
) -> Path:
    """Fetch one configured input to ``output``: the mirror copy, else the URL (:func:`fetch_source`).

    A source without a canonical URL (a screen shared in-house) must be in the mirror. With
    ``archive_member`` the fetched file (checked against ``sha256``) is an archive and only that member is
    written to ``output`` (:func:`extract_member`); the archive itself lives in a scratch folder beside
    ``output`` and is removed.

    Raises
    ------
    InputError
        Field ``url``: no URL and no mirror file; otherwise as :func:`fetch_source` and :func:`extract_member`,
        an archive's errors naming the mirror file or the URL it came from.
    """
    if not url:
        mirrored = Path(mirror) / mirror_name if mirror and mirror_name else None
        if mirrored is None or not mirrored.is_file():
            raise InputError("config", "url", f"no URL configured for {output} and mirror file {mirrored} not found")
        url = mirrored.resolve().as_uri()
    mirror = Path(mirror) if mirror else None
    if not archive_member:
        return fetch_source(url, output, mirror=mirror, mirror_name=mirror_name, sha256=sha256)
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    mirrored = _mirror_path(url, mirror, mirror_name) if mirror is not None else None
    origin = mirrored if mirrored is not None and mirrored.is_file() else url
    with tempfile.TemporaryDirectory(dir=Path(output).parent, prefix=".fetch-") as scratch:
        archive = fetch_source(url, Path(scratch) / "archive", mirror=mirror, mirror_name=mirror_name, sha256=sha256)
        try:
            return extract_member(archive, output, archive_member)
        except InputError as err:
            if err.source != str(archive):
                raise
            # name the archive where the user can find it (the mirror file or the URL), not the scratch copy
            raise InputError(origin, err.field, f"{err.problem} (archive for {output})") from None


def extract_member(archive: str | os.PathLike, destination: str | os.PathLike, member: str = PROCESSED_NAME) -> Path:
    """Copy one file out of a zip or tar archive (or an h5ad file as it is) to ``destination``, atomically.

    The whole archive is checked before anything is written: a member with an absolute path or a
    ``..`` component (it would land outside the target folder), a symbolic or hard link, or a device
    makes the archive unusable. ``member`` is matched exactly, else as the only member whose last
    path component equals it (``adamson/perturb_processed.h5ad`` for ``perturb_processed.h5ad``).

    Parameters
    ----------
    archive : path-like
        A ``.zip``, a tar (optionally gzip/bz2/xz-compressed) or an HDF5 (``.h5ad``) file, told apart
        by content, not by name.
    destination : path-like
        The file to write (parent folders are created); absent after any error.
    member : str
        Path inside the archive, or a file name.

    Returns
    -------
    pathlib.Path
        ``destination``.

    Raises
    ------
    InputError
        Source ``archive``: not a zip, tar or HDF5 file; an unsafe member (field: the member's name);
        ``member`` missing or matching several members (field ``'member'``).
    """
    archive, destination = Path(archive), Path(destination)
    with open(archive, "rb") as handle:
        head = handle.read(len(HDF5_MAGIC))
    if head == HDF5_MAGIC:
        with atomic_path(destination) as tmp:
            shutil.copyfile(archive, tmp)
        return destination
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            infos = bundle.infolist()
            for info in infos:
                kind = stat.S_IFMT(info.external_attr >> 16)
                _check_member_path(archive, info.filename)
                if kind in (stat.S_IFLNK, stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO):
                    raise InputError(archive, info.filename, "a link or device in the archive: refusing to extract")
            chosen = _choose_member(archive, [i.filename for i in infos if not i.is_dir()], member)
            try:
                with bundle.open(chosen) as source, atomic_path(destination) as tmp, open(tmp, "wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
            except (zipfile.BadZipFile, RuntimeError, EOFError, zlib.error, NotImplementedError) as err:
                # a bad CRC, an encrypted member, a truncated or unsupported compression
                raise InputError(
                    archive, chosen, f"cannot be read from the zip ({type(err).__name__}: {err})"
                ) from None
        return destination
    if tarfile.is_tarfile(archive):
        chosen = None
        try:
            with tarfile.open(archive) as bundle:
                infos = bundle.getmembers()
                for info in infos:
                    _check_member_path(archive, info.name)
                    if not (info.isfile() or info.isdir()):
                        raise InputError(archive, info.name, "a link or device in the archive: refusing to extract")
                chosen = _choose_member(archive, [i.name for i in infos if i.isfile()], member)
                source = bundle.extractfile(chosen)
                with atomic_path(destination) as tmp, open(tmp, "wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
        except (tarfile.TarError, EOFError, zlib.error, OSError) as err:  # truncated, corrupt compression
            raise InputError(archive, chosen, f"the tar archive cannot be read ({type(err).__name__}: {err})") from None
        return destination
    raise InputError(archive, None, "neither a zip nor a tar archive nor an h5ad (HDF5) file")


def _check_member_path(archive: Path, name: str) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise InputError(archive, name, "a member path outside the target folder: refusing to extract")


def _choose_member(archive: Path, names: list[str], member: str) -> str:
    if names.count(member) > 1:  # zip and tar both allow it; which copy a reader takes is its own choice
        raise InputError(
            archive, "member", f"{member} is in the archive {names.count(member)} times: refusing to guess which copy"
        )
    if member in names:
        return member
    matches = [n for n in names if PurePosixPath(n).name == PurePosixPath(member).name]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise InputError(archive, "member", f"no {member} in the archive ({len(names)} files)")
    if len(set(matches)) == 1:
        raise InputError(
            archive, "member", f"{matches[0]} is in the archive {len(matches)} times: refusing to guess which copy"
        )
    raise InputError(archive, "member", f"{member} matches several files: {matches[:5]}; name the path")
