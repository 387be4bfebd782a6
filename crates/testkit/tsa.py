"""A local RFC 3161 time-stamp server for tests, standing in for Apple's (timestamp.apple.com).

Usage: python3 tsa.py DIR

Makes a TSA key and a self-signed certificate with the critical extended key usage
timeStamping (openssl refuses to stamp with any other) in DIR, answers time-stamp queries
with `openssl ts -reply` on 127.0.0.1 (a free port), prints its URL as the first line of
stdout, logs one line per answered query to DIR/requests.log, and exits when its parent does
(or on SIGTERM). Used by the macOS gate and verify's signature tests (rcodesign
--timestamp-url URL). Needs only python3 and openssl.
"""

import http.server
import os
import subprocess
import sys
import threading
import time

CONFIG = """\
[ tsa ]
default_tsa = local
[ local ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.crt
signer_key = $dir/tsa.key
signer_digest = sha256
certs = $dir/tsa.crt
default_policy = 1.3.6.1.4.1.57264.1.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def make_authority(directory):
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", os.path.join(directory, "tsa.key"), "-out", os.path.join(directory, "tsa.crt"),
         "-subj", "/CN=msty-mlx-studio local test TSA",
         "-addext", "basicConstraints=critical,CA:FALSE",
         "-addext", "keyUsage=critical,digitalSignature",
         "-addext", "extendedKeyUsage=critical,timeStamping"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    with open(os.path.join(directory, "serial"), "w") as f:
        f.write("01\n")
    with open(os.path.join(directory, "tsa.cnf"), "w") as f:
        f.write(CONFIG.format(dir=directory))


class Stamper(http.server.BaseHTTPRequestHandler):
    directory = "."
    lock = threading.Lock()

    def do_POST(self):
        query = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.lock:
            q, r = (os.path.join(self.directory, name) for name in ("query.tsq", "reply.tsr"))
            with open(q, "wb") as f:
                f.write(query)
            done = subprocess.run(
                ["openssl", "ts", "-reply", "-config", os.path.join(self.directory, "tsa.cnf"),
                 "-queryfile", q, "-out", r],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
            if done.returncode != 0:
                self.send_error(500, done.stderr.decode(errors="replace").strip()[-200:])
                return
            with open(r, "rb") as f:
                reply = f.read()
            with open(os.path.join(self.directory, "requests.log"), "a") as f:
                f.write(f"{len(query)} bytes queried, {len(reply)} bytes answered\n")
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


def exit_with_parent():
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(0)


def main():
    directory = os.path.abspath(sys.argv[1])
    os.makedirs(directory, exist_ok=True)
    make_authority(directory)
    Stamper.directory = directory
    server = http.server.HTTPServer(("127.0.0.1", 0), Stamper)
    print(f"http://127.0.0.1:{server.server_address[1]}/", flush=True)
    threading.Thread(target=exit_with_parent, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
