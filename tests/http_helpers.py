"""A real HTTP server on 127.0.0.1 run in a background thread, shut down when the block ends."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def serving(httpd: socketserver.BaseServer) -> Iterator[socketserver.BaseServer]:
    """Serve ``httpd`` in a daemon thread for the duration of the block; always shut it down."""
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
