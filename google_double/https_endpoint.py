"""Google's token-certificate endpoint, answered over real HTTPS on 127.0.0.1.

The functions under measurement run in their own processes and must not be patched (a `responses` mock would add
its own imports to a cold start and its own overhead to every Stripe call). So they reach Google the way they do
on Lambda, through `requests`, here via HTTPS_PROXY: this proxy accepts `CONNECT www.googleapis.com:443`, speaks
TLS with a certificate for that name signed by a CA made for the run (REQUESTS_CA_BUNDLE), and answers the
certificate URL with the issuer's certificates and Google's Cache-Control. Nothing else is served.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import io
import json
import socket
import socketserver
import ssl
import tempfile
import threading
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from google_double.certificates import CACHE_CONTROL, CERT_PATH, GOOGLE_HOST


def _certificate(subject: str, issuer_key: ec.EllipticCurvePrivateKey | None, issuer: x509.Name | None,
                 *, ca: bool) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False), critical=True)
    else:  # Python 3.13 verifies strictly (RFC 5280): the leaf names its issuer's key
        assert issuer_key is not None
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
        ).add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    certificate = builder.sign(issuer_key or key, hashes.SHA256())
    return key, certificate


class GoogleCertificateEndpoint:
    def __init__(self, certificates: dict[str, str]) -> None:
        self.body = json.dumps(certificates).encode()
        self.fetches = 0
        self._directory = tempfile.TemporaryDirectory(prefix="bench-google-")
        root = Path(self._directory.name)
        ca_key, ca_cert = _certificate("bench local CA", None, None, ca=True)
        leaf_key, leaf_cert = _certificate(GOOGLE_HOST, ca_key, ca_cert.subject, ca=False)
        self.ca_bundle = root / "ca.pem"
        self.ca_bundle.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        (root / "leaf.pem").write_bytes(leaf_cert.public_bytes(serialization.Encoding.PEM))
        (root / "leaf.key").write_bytes(leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._tls.load_cert_chain(root / "leaf.pem", root / "leaf.key")
        self._server: socketserver.ThreadingTCPServer | None = None

    def start(self) -> GoogleCertificateEndpoint:
        endpoint = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                endpoint._serve(self.connection, self.rfile)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, name="google-certs", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._directory.cleanup()

    def environment(self) -> dict[str, str]:
        """What a function process needs to reach this endpoint instead of Google."""
        assert self._server is not None
        return {
            "HTTPS_PROXY": f"http://127.0.0.1:{self._server.server_address[1]}",
            "NO_PROXY": "127.0.0.1,localhost",
            "REQUESTS_CA_BUNDLE": str(self.ca_bundle),
        }

    def _serve(self, connection: socket.socket, reader: io.BufferedIOBase) -> None:
        request_line = reader.readline().decode("latin-1")
        while reader.readline() not in (b"\r\n", b"\n", b""):
            pass
        if request_line.split()[:2] != ["CONNECT", f"{GOOGLE_HOST}:443"]:
            connection.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        connection.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        with self._tls.wrap_socket(connection, server_side=True) as tls:
            stream = tls.makefile("rb")
            request = stream.readline().decode("latin-1").split()
            while stream.readline() not in (b"\r\n", b"\n", b""):
                pass
            if request[:2] == ["GET", CERT_PATH]:
                self.fetches += 1
                # Google's headers: without Date, cachecontrol would not cache and every request would fetch.
                now = time.time()
                head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=UTF-8\r\n"
                        f"Date: {email.utils.formatdate(now, usegmt=True)}\r\n"
                        f"Expires: {email.utils.formatdate(now + 19000, usegmt=True)}\r\n"
                        f"Cache-Control: {CACHE_CONTROL}\r\nContent-Length: {len(self.body)}\r\n"
                        "Connection: close\r\n\r\n")
                tls.sendall(head.encode() + self.body)
            else:
                tls.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
