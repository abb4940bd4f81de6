import functools
import http.server
import threading

import pytest


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every data test gets its own empty download cache."""
    monkeypatch.setenv("AUTOENCODERS_DATA", str(tmp_path / "cache"))


class CountingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files from a folder and records every requested path on the server."""

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        super().do_GET()


@pytest.fixture
def http_folder(tmp_path):
    """An HTTP server on 127.0.0.1 (free port) serving ``tmp_path / "served"``.

    Yields ``(base_url, served_folder, requests)``; the server is shut down afterwards.
    """
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(CountingHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.requests = []
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", served, server.requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
