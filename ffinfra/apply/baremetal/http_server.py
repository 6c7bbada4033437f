"""The boot HTTP server (a daemon the boot server starts): iPXE scripts, the node image, each node's own files, and
the nodes' reports.

    GET  /ipxe/..., /image/..., /install/<host>/...   anyone on the provisioning network
    GET  /nodes/<host>/...                             only from <host>'s reserved address (its keys are there)
    POST /report/<host>                                only from <host>'s reserved address: saved to reports/<host>
    POST /installed/<host>                             (install mode) the installer is done: from now on <host>'s
                                                       iPXE script boots its disk, not the installer again

A node's iPXE script (/ipxe/<mac>.ipxe) is its rendered one until it is installed: then iPXE gets `exit`, and the
firmware boots the next device (the disk), so an installed node does not loop back into the installer.

Every request is one line in the access log, `epoch client method path status bytes`, which is how ffinfra sees a
node fetch its image. Run: python -m ffinfra.apply.baremetal.http_server ROOT REPORTS CLIENTS_JSON ADDRESS PORT LOG
"""

from __future__ import annotations

import json
import os
import posixpath
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

MAX_REPORT = 64 * 1024


def make_handler(root: Path, reports: Path, clients: Path, log: Path) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        server_version = "ffinfra-boot/1"

        def log_message(self, format: str, *args: object) -> None:
            pass  # our own access log below

        def _log(self, status: int, size: int) -> None:
            line = f"{time.time():.3f} {self.client_address[0]} {self.command} {self.path} {status} {size}\n"
            with lock, log.open("a") as f:
                f.write(line)

        def _send(self, status: int, body: bytes, ctype: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            self._log(status, len(body))

        def _clients(self) -> dict[str, str]:
            # read on every request: the boot server rewrites the file when the inventory changes
            try:
                return dict(json.loads(clients.read_text()))
            except (OSError, ValueError):
                return {}

        def _owner_ok(self, host: str) -> bool:
            return self._clients().get(host) == self.client_address[0]

        def _installed(self) -> str | None:
            """The host asking, if it is installed already (its installer posted /installed/<host>)."""
            for host, ip in self._clients().items():
                if ip == self.client_address[0] and (reports / f"{host}.installed").exists():
                    return host
            return None

        def _path(self) -> list[str] | None:
            parts = [p for p in posixpath.normpath(unquote(urlsplit(self.path).path)).split("/") if p]
            return None if any(p in (".", "..") for p in parts) else parts

        def do_GET(self) -> None:
            parts = self._path()
            if not parts or parts[0] not in ("ipxe", "image", "install", "nodes"):
                return self._send(404, b"not found\n")
            if parts[0] == "nodes" and (len(parts) < 3 or not self._owner_ok(parts[1])):
                return self._send(403, b"a node's files go to that node's address only\n")
            if parts[0] == "ipxe" and parts[-1] != "boot.ipxe" and (host := self._installed()):
                return self._send(200, f"#!ipxe\necho ffinfra: {host} is installed: booting its disk\nexit\n".encode())
            file = root.joinpath(*parts)
            if not file.is_file():
                return self._send(404, b"not found\n")
            self.send_response(200)
            size = file.stat().st_size
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            if self.command != "HEAD":
                with file.open("rb") as f:
                    while chunk := f.read(1 << 20):
                        self.wfile.write(chunk)
            self._log(200, size)

        do_HEAD = do_GET

        def do_POST(self) -> None:
            parts = self._path()
            if not parts or len(parts) != 2 or parts[0] not in ("report", "installed"):
                return self._send(404, b"not found\n")
            host = parts[1]
            if not self._owner_ok(host):
                return self._send(403, b"a node reports from its own address only\n")
            if parts[0] == "installed":
                (reports / f"{host}.installed").write_text(f"{time.time():.3f}\n")
                return self._send(200, b"ok\n")
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_REPORT:
                return self._send(400, b"a report is 1 byte to 64 KiB\n")
            body = self.rfile.read(length).decode("utf-8", "replace")
            text = f"received={time.time():.3f}\npeer={self.client_address[0]}\n{body.strip()}\n"
            tmp = reports / f".{host}.tmp"
            tmp.write_text(text)
            os.replace(tmp, reports / host)
            return self._send(200, b"ok\n")

    return Handler


def main(argv: list[str]) -> int:
    root, reports, clients, address, port, log = argv
    Path(reports).mkdir(parents=True, exist_ok=True)
    handler = make_handler(Path(root), Path(reports), Path(clients), Path(log))
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer((address, int(port)), handler)
    server.daemon_threads = True
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
