"""Zip URLs, local zips and folders: one docs version each; a zip URL is downloaded again only
when the server says it changed (ETag / Last-Modified)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rag_core.sources import SourceError
from rag_core.sources.archive import UrlZipSource, archive_version


class _ZipServer:
    """Serves one zip at /milvus_docs_2.4.x_en.zip with an ETag, like a release download host."""

    def __init__(self, data: bytes):
        self.data, self.etag, self.gets, self.not_modified = data, '"v1"', 0, 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                fake.gets += 1
                if self.path != "/milvus_docs_2.4.x_en.zip":
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.headers.get("If-None-Match") == fake.etag:
                    fake.not_modified += 1
                    self.send_response(304)
                    self.send_header("ETag", fake.etag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("ETag", fake.etag)
                self.send_header("Content-Length", str(len(fake.data)))
                self.end_headers()
                self.wfile.write(fake.data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/milvus_docs_2.4.x_en.zip"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def zip_server(docs_zip):
    server = _ZipServer(docs_zip.read_bytes())
    yield server
    server.close()


def test_zip_url_is_revalidated_not_downloaded_again(zip_server, tmp_path):
    src = UrlZipSource(zip_server.url, tmp_path / "cache")
    (v,) = src.versions(["latest"], "en/faq/*.md")
    assert v.version == "v2.4.x" and not v.current and v.files == 4 and src.downloads == 1
    assert len(v.documents()) == 4
    (again,) = src.versions(["latest"], "en/faq/*.md")
    assert src.downloads == 1 and zip_server.not_modified == 1 and again.fingerprint == v.fingerprint
    zip_server.etag = '"v2"'  # a new release at the same URL
    src.versions(["latest"], "en/faq/*.md")
    assert src.downloads == 2


def test_zip_url_errors_are_one_clear_line(zip_server, tmp_path):
    src = UrlZipSource(zip_server.url.replace("2.4.x_en", "missing"), tmp_path / "cache")
    with pytest.raises(SourceError, match="answered HTTP 404"):
        src.versions(["latest"], "en/faq/*.md")
    dead = UrlZipSource("http://127.0.0.1:9/milvus_docs_2.4.x_en.zip", tmp_path / "cache")
    with pytest.raises(SourceError, match="could not download .* local .zip or folder"):
        dead.versions(["latest"], "en/faq/*.md")


@pytest.mark.parametrize("wanted, name, expected", [
    (["latest"], "milvus_docs_2.4.x_en.zip", "v2.4.x"),
    (["v2.5.x"], "milvus_docs_2.4.x_en.zip", "v2.5.x"),  # the operator's word wins
    (["latest", "v2.4.x"], "milvus_docs_2.4.x_en.zip", "v2.4.x"),
    (["v2.6.x"], "docs", "v2.6.x"),
])
def test_which_version_an_archive_holds(wanted, name, expected):
    assert archive_version(wanted, name) == expected


@pytest.mark.parametrize("wanted, name, message", [
    (["latest"], "docs", "set FAQBOT_DOCS_VERSIONS"),
    (["latest", "v2.5.x", "v2.6.x"], "milvus_docs_2.4.x_en.zip", "holds one"),
    (["v2.5.x", "v2.6.x"], "docs", "holds one"),
])
def test_archive_version_errors(wanted, name, message):
    with pytest.raises(SourceError, match=message):
        archive_version(wanted, name)


def test_folder_inside_a_web_content_checkout_takes_the_version_folder_name(tmp_path, faq_folder):
    import shutil

    from rag_core.sources.archive import FolderSource

    site = tmp_path / "web-content" / "v2.6.x" / "site"
    shutil.copytree(faq_folder, site)
    (v,) = FolderSource(site).versions(["latest"], "en/faq/*.md")
    assert v.version == "v2.6.x" and v.files == 4
