"""The download script against a local HTTP server on 127.0.0.1 (never a real network address)."""
import hashlib
import http.server
import shutil
import threading
from functools import partial

import pytest

from idc.data import DataError
from idc.data.download import download, fetch, sources_for

from .conftest import ROOT, SHARED_DATA


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def test_fetch_checks_the_sha256_and_writes_nothing_on_mismatch(server, tmp_path):
    root, url = server
    payload = b"0123456789" * 5000
    (root / "file.bin").write_bytes(payload)
    dest = tmp_path / "data" / "file.bin"
    with pytest.raises(DataError, match="sha256 mismatch"):
        fetch(url + "file.bin", dest, "0" * 64, progress=False)
    assert not dest.exists() and not list(dest.parent.glob("*.part"))
    fetch(url + "file.bin", dest, hashlib.sha256(payload).hexdigest(), progress=True)
    assert dest.read_bytes() == payload
    with pytest.raises(DataError, match="download from .* failed"):
        fetch(url + "missing.bin", tmp_path / "m.bin", "", progress=False)


def test_download_from_a_mirror_never_overwrites(server, tmp_path):
    root, url = server
    if not (SHARED_DATA / "SRBCT.mat").is_file():
        pytest.skip("SRBCT.mat not in ../shared/data: nothing real to serve")
    shutil.copy(SHARED_DATA / "SRBCT.mat", root / "SRBCT.mat")
    data_dir = tmp_path / "data"
    assert download(["srbct"], data_dir, mirror=url, progress=False) == {"SRBCT.mat": "downloaded"}
    assert (data_dir / "SRBCT.mat").read_bytes() == (SHARED_DATA / "SRBCT.mat").read_bytes()
    (data_dir / "SRBCT.mat").write_bytes(b"edited by the user")
    status = download(["srbct"], data_dir, mirror=url, progress=False)
    assert "differs (left untouched)" in status["SRBCT.mat"]
    assert (data_dir / "SRBCT.mat").read_bytes() == b"edited by the user"


def test_sources_name_every_paper_dataset_and_refuse_unknown_names():
    configured = {p.stem for p in (ROOT / "configs" / "dataset").glob("*.yaml")} - {"synthetic", "digits", "table"}
    assert configured <= {d for s in sources_for([]) for d in s.datasets}
    assert all(s.url.startswith("https://") for s in sources_for([]) if s.how == "download")
    with pytest.raises(DataError, match="unknown dataset"):
        sources_for(["imagenet"])
