#!/usr/bin/python3
"""A slow HTTPS file server for the agent tests: serves DIR with Range
support at RATE bytes/s, logs each request's Range header to LOG, prints its
port on stdout.

  slow_https.py DIR CERT KEY RATE LOG
"""
import http.server
import os
import ssl
import sys
import time

root, cert, key, rate, log = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        path = os.path.join(root, self.path.lstrip("/"))
        if ".." in self.path or not os.path.isfile(path):
            self.send_error(404)
            return
        data = open(path, "rb").read()
        start = 0
        rng = self.headers.get("Range")
        with open(log, "a") as f:
            f.write(f"{self.path} {rng or '-'}\n")
        if rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        chunk = max(1, rate // 20)
        try:
            for off in range(start, len(data), chunk):
                self.wfile.write(data[off:off + chunk])
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
