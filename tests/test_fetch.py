"""fetch_source: mirror first, else URL; sha256 check; atomic output; errors name URL/mirror and field.

Downloads are served by a real ``http.server.ThreadingHTTPServer`` on 127.0.0.1 (no internet).
"""

from __future__ import annotations

import hashlib
import http.server
import logging
import socket
import threading
import time
from functools import partial
from pathlib import Path

import pytest

from perturb_select.io import InputError
from perturb_select.knowledge.fetch import fetch_source

PAYLOAD = b"#tax_id\tGeneID\tGO_ID\n9606\t1\tGO:0005515\n" * 50
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        if self.path.startswith("/slow/"):
            time.sleep(3)
        return super().do_GET()


@pytest.fixture
def http_root(tmp_path):
    """A directory served over HTTP on 127.0.0.1:<free port>; yields (root dir, base URL)."""
    root = tmp_path / "served"
    (root / "slow").mkdir(parents=True)
    (root / "gene2go.gz").write_bytes(PAYLOAD)
    (root / "slow" / "gene2go.gz").write_bytes(PAYLOAD)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def refused_url():
    """A URL on a port nobody listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/gene2go.gz"


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_mirror_hit_copies_file_and_logs(tmp_path, refused_url, caplog):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "gene2go.gz").write_bytes(PAYLOAD)
    dest = tmp_path / "out" / "gene2go.gz"
    with caplog.at_level(logging.INFO, logger="perturb_select"):
        got = fetch_source(refused_url, dest, mirror=mirror, sha256=PAYLOAD_SHA.upper())
    assert got == dest
    assert dest.read_bytes() == PAYLOAD
    assert _leftovers(dest.parent) == ["gene2go.gz"]
    assert any("mirror" in r.getMessage() and str(mirror / "gene2go.gz") in r.getMessage() for r in caplog.records)


def test_mirror_name_overrides_url_basename(tmp_path, refused_url):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "gene2go_human.gz").write_bytes(PAYLOAD)
    dest = tmp_path / "gene2go.gz"
    fetch_source(refused_url, dest, mirror=mirror, mirror_name="gene2go_human.gz")
    assert dest.read_bytes() == PAYLOAD


def test_mirror_checksum_mismatch_leaves_nothing(tmp_path, refused_url):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "gene2go.gz").write_bytes(PAYLOAD + b"x")
    out = tmp_path / "out"
    with pytest.raises(InputError) as err:
        fetch_source(refused_url, out / "gene2go.gz", mirror=mirror, sha256=PAYLOAD_SHA)
    assert err.value.field == "sha256"
    assert err.value.source == str(mirror / "gene2go.gz")
    assert PAYLOAD_SHA in str(err.value)
    assert _leftovers(out) == []


def test_failed_fetch_keeps_existing_destination(tmp_path, refused_url):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "gene2go.gz").write_bytes(b"corrupt")
    dest = tmp_path / "gene2go.gz"
    dest.write_bytes(b"previous good copy")
    with pytest.raises(InputError):
        fetch_source(refused_url, dest, mirror=mirror, sha256=PAYLOAD_SHA)
    assert dest.read_bytes() == b"previous good copy"
    assert _leftovers(tmp_path) == ["gene2go.gz", "mirror"]


def test_malformed_sha256_is_rejected(tmp_path, refused_url):
    with pytest.raises(InputError) as err:
        fetch_source(refused_url, tmp_path / "x", sha256="abc123")
    assert err.value.field == "sha256"
    assert _leftovers(tmp_path) == []


def test_download_over_http_with_checksum(tmp_path, http_root, caplog):
    _, base = http_root
    dest = tmp_path / "out" / "gene2go.gz"
    with caplog.at_level(logging.INFO, logger="perturb_select"):
        fetch_source(f"{base}/gene2go.gz", dest, sha256=PAYLOAD_SHA)
    assert dest.read_bytes() == PAYLOAD
    assert _leftovers(dest.parent) == ["gene2go.gz"]
    assert any(f"{base}/gene2go.gz" in r.getMessage() for r in caplog.records)


def test_download_checksum_mismatch_leaves_nothing(tmp_path, http_root):
    _, base = http_root
    out = tmp_path / "out"
    with pytest.raises(InputError) as err:
        fetch_source(f"{base}/gene2go.gz", out / "gene2go.gz", sha256="0" * 64)
    assert err.value.field == "sha256"
    assert err.value.source == f"{base}/gene2go.gz"
    assert _leftovers(out) == []


def test_http_404_raises_and_leaves_nothing(tmp_path, http_root):
    _, base = http_root
    out = tmp_path / "out"
    with pytest.raises(InputError) as err:
        fetch_source(f"{base}/missing.gz", out / "missing.gz")
    assert err.value.field == "url"
    assert err.value.source == f"{base}/missing.gz"
    assert "404" in str(err.value)
    assert _leftovers(out) == []


def test_missing_mirror_file_falls_back_to_url(tmp_path, http_root, caplog):
    _, base = http_root
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    dest = tmp_path / "gene2go.gz"
    with caplog.at_level(logging.INFO, logger="perturb_select"):
        fetch_source(f"{base}/gene2go.gz", dest, mirror=mirror, sha256=PAYLOAD_SHA)
    assert dest.read_bytes() == PAYLOAD
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "not found" in messages and f"{base}/gene2go.gz" in messages


def test_missing_mirror_and_refused_connection(tmp_path, refused_url):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    out = tmp_path / "out"
    with pytest.raises(InputError) as err:
        fetch_source(refused_url, out / "gene2go.gz", mirror=mirror)
    assert err.value.field == "url"
    assert refused_url in str(err.value)
    assert str(mirror / "gene2go.gz") in str(err.value)
    assert _leftovers(out) == []


def test_timeout_raises_and_leaves_nothing(tmp_path, http_root):
    _, base = http_root
    out = tmp_path / "out"
    with pytest.raises(InputError) as err:
        fetch_source(f"{base}/slow/gene2go.gz", out / "gene2go.gz", timeout=0.5)
    assert err.value.field == "url"
    assert _leftovers(out) == []


def test_file_url(tmp_path):
    src = tmp_path / "src" / "go-basic.obo"
    src.parent.mkdir()
    src.write_bytes(PAYLOAD)
    dest = tmp_path / "dest" / "go-basic.obo"
    fetch_source(src.as_uri(), dest, sha256=PAYLOAD_SHA)
    assert dest.read_bytes() == PAYLOAD


def test_unknown_url_scheme(tmp_path):
    with pytest.raises(InputError) as err:
        fetch_source("nosuchscheme://host/file", tmp_path / "f")
    assert err.value.field == "url"
    assert _leftovers(tmp_path) == []


def test_atomic_outputs_follow_the_umask(tmp_path):
    import os

    from perturb_select.io import atomic_open, write_json

    previous = os.umask(0o022)
    try:
        write_json({"a": 1}, tmp_path / "shared.json")
        with atomic_open(tmp_path / "plain.bin", "wb") as handle:
            handle.write(b"x")
        os.umask(0o077)
        write_json({"a": 1}, tmp_path / "private.json")
    finally:
        os.umask(previous)
    assert (tmp_path / "shared.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "plain.bin").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "private.json").stat().st_mode & 0o777 == 0o600


def test_corrupt_tables_written_by_the_project_are_one_input_error(tmp_path):
    import gzip

    from perturb_select.io import InputError
    from perturb_select.knowledge.graph import KnowledgeGraph
    from perturb_select.selection.base import read_selection

    binary = tmp_path / "selection.tsv"
    binary.write_bytes(gzip.compress(b"rank\tgene\tcycle\tgain\tobjective\n1\tA\t1\t1\t1\n" * 50) + b"\n")
    with pytest.raises(InputError, match="selection.tsv: not a readable tab-separated table"):
        read_selection(binary)
    ragged = tmp_path / "graph.tsv"
    ragged.write_text("source\ttarget\timportance\nA\tB\t0.5\nB\tC\t0.5\textra\tcolumns\n")
    with pytest.raises(InputError, match="graph.tsv: not a readable tab-separated table"):
        KnowledgeGraph.read(ragged)
