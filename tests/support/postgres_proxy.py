"""What PostgreSQL receives, for the tests: a proxy in front of the real server that records every message a
client sends it, relays the session, and can cut it.

Recorded at the wire, per client connection: whether TLS was established, how many bytes reached PostgreSQL (a
refused certificate must mean none), and each frontend message of the protocol (`messages`: a simple query and its
text, a parse and its statement, a sync ...), so that a test asserts the statements and round trips a request
costs without looking inside the driver. `cut()` ends every session at once, as a network or a server going away
would.

With `tls=True` it answers the SSLRequest with "S" as a TLS-enabled server does and handshakes with a certificate
(for localhost and 127.0.0.1) from a CA made for the test: the local server has no TLS, yet billing/db_pg8000.py's
verified mode (a CA bundle) must be shown to check a real certificate's chain and name. Without, it answers "N", as
the local server does.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import select
import socket
import ssl
import struct
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy.engine import make_url

_SSL_REQUEST = struct.pack("!ii", 8, 80877103)  # length 8, then the SSLRequest code
_POLL_SECONDS = 0.1  # how soon the threads notice stop()
_PEM = serialization.Encoding.PEM
_Issuer = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]


def _certificate(name: str, issuer: _Issuer | None = None, sans: list[x509.GeneralName] | None = None) -> _Issuer:
    """A CA (without issuer: self-signed) or a server certificate for `sans`. EC keys, as they take no time to make.
    Python 3.13's default client context verifies strictly (VERIFY_X509_STRICT): without the key identifiers and
    the CA's key usage that a real CA puts in, the chain would be refused for that, not for what a test means."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_certificate, issuer_key = issuer or (None, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_certificate.subject if issuer_certificate else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if issuer is None:
        unused = ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement", "encipher_only")
        uses = dict.fromkeys((*unused, "decipher_only"), False) | {"key_cert_sign": True, "crl_sign": True}
        builder = builder.add_extension(x509.KeyUsage(digital_signature=True, **uses), critical=True)
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans or []), critical=False)
    return builder.sign(issuer_key, hashes.SHA256()), key


@dataclass
class Relayed:
    """One client connection: whether its TLS handshake completed, the bytes of it that reached PostgreSQL, and the
    frontend messages it sent after the startup message, as (type, SQL text for a query or a parse, else "")."""

    tls: bool = False
    bytes_to_server: int = 0
    messages: list[tuple[str, str]] = field(default_factory=list)
    _pending: bytes = b""
    _started: bool = False

    def record(self, data: bytes) -> None:
        self._pending += data
        while True:
            if not self._started:  # the startup message: a length, no type byte
                if len(self._pending) < 4:
                    return
                length = struct.unpack("!i", self._pending[:4])[0]
                if len(self._pending) < length:
                    return
                self._pending, self._started = self._pending[length:], True
                continue
            if len(self._pending) < 5:
                return
            kind, length = chr(self._pending[0]), struct.unpack("!i", self._pending[1:5])[0]
            if len(self._pending) < 1 + length:
                return
            body, self._pending = self._pending[5:1 + length], self._pending[1 + length:]
            self.messages.append((kind, _sql_of(kind, body)))

    def statements(self) -> list[tuple[str, str]]:
        """("simple" | "extended", SQL) of each statement sent, in order."""
        return [("simple" if kind == "Q" else "extended", sql) for kind, sql in self.messages if kind in ("Q", "P")]


def _sql_of(kind: str, body: bytes) -> str:
    if kind == "Q":
        return body.split(b"\0", 1)[0].decode()
    if kind == "P":  # the statement's name, then its text
        return body.split(b"\0", 2)[1].decode()
    return ""


class PostgresProxy:
    """`with PostgresProxy() as proxy:` listens on host:proxy.port until the block ends."""

    def __init__(self, host: str = "127.0.0.1", server: tuple[str, int] = ("127.0.0.1", 5432), *,
                 tls: bool = False) -> None:
        self.tls = tls
        ca = _certificate("billing tests CA")
        sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        certificate, key = _certificate("billing tests PostgreSQL", ca, sans)
        self.ca_pem = ca[0].public_bytes(_PEM).decode()
        self.other_ca_pem = _certificate("unrelated CA")[0].public_bytes(_PEM).decode()
        self.certificate_der = certificate.public_bytes(serialization.Encoding.DER)
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as directory:  # load_cert_chain reads files only; they are not kept
            chain, private = Path(directory, "server.pem"), Path(directory, "server.key")
            chain.write_bytes(certificate.public_bytes(_PEM))
            pkcs8, unencrypted = serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            private.write_bytes(key.private_bytes(_PEM, pkcs8, unencrypted))
            self._tls.load_cert_chain(chain, private)
        self._server, self._stopping = server, threading.Event()
        self.connections: list[Relayed] = []
        self._listener = socket.create_server((host, 0))
        self._listener.settimeout(_POLL_SECONDS)  # accept() wakes up to see stop(); closing would not wake it
        self.port: int = self._listener.getsockname()[1]
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._live: list[socket.socket] = []  # the sockets of the sessions being relayed, for cut()

    def url(self, database_url: str, host: str = "127.0.0.1") -> str:
        """`database_url` through this proxy."""
        return make_url(database_url).set(host=host, port=self.port).render_as_string(hide_password=False)

    def cut(self) -> None:
        """End every session being relayed, on both sides, as a network or a server going away would: the client
        finds its socket at its end (readable, nothing to read)."""
        for each in list(self._live):
            with contextlib.suppress(OSError):
                each.shutdown(socket.SHUT_RDWR)

    def sent(self) -> list[Relayed]:
        """The connections that reached PostgreSQL (a TLS attempt the proxy refused is none)."""
        return [c for c in self.connections if c.bytes_to_server]

    def __enter__(self) -> PostgresProxy:
        self._threads[0].start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop accepting, end every relay and close its sockets. Joined, so `connections` is final afterwards."""
        self._stopping.set()
        for thread in self._threads:  # the accept thread first: no thread is added once it has ended
            if thread.ident is not None:
                thread.join(timeout=10)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            relayed = Relayed()
            self.connections.append(relayed)
            self._threads.append(threading.Thread(target=self._serve, args=(client, relayed), daemon=True))
            self._threads[-1].start()

    def _handshake(self, client: socket.socket, relayed: Relayed) -> tuple[socket.socket, bytes]:
        """The client's socket (TLS-wrapped when TLS was agreed) and what it sent of its startup message so far."""
        first = client.recv(8, socket.MSG_WAITALL)
        if first != _SSL_REQUEST:
            return client, first  # a plaintext client's first 8 bytes are its startup message's
        if not self.tls:
            client.sendall(b"N")  # as a server without TLS answers; the client goes on in plaintext, or leaves
            return client, client.recv(8, socket.MSG_WAITALL)
        client.sendall(b"S")
        wrapped = self._tls.wrap_socket(client, server_side=True)  # raises if the client rejects us
        relayed.tls = True
        return wrapped, b""

    def _serve(self, client: socket.socket, relayed: Relayed) -> None:
        sockets = [client]
        try:
            client.settimeout(5)  # a client stalled mid-handshake cannot hold stop() for long
            client, first = self._handshake(client, relayed)
            if client not in sockets:
                sockets.append(client)
            if not (relayed.tls or first):
                return  # it left after hearing there is no TLS
            # PostgreSQL is reached only now: nothing of a connection whose handshake failed gets there
            server = socket.create_connection(self._server, timeout=5)
            sockets.append(server)
            server.sendall(first)  # a plaintext client's first 8 bytes are its startup message's
            relayed.bytes_to_server += len(first)
            relayed.record(first)
            self._live += sockets
            peers = {client: server, server: client}
            while not self._stopping.is_set():
                readable, _, _ = select.select(list(peers), [], [], _POLL_SECONDS)
                for source in readable:
                    data = source.recv(65536)
                    # OpenSSL may hold decrypted bytes beyond what recv returned, which select() cannot see
                    while data and isinstance(source, ssl.SSLSocket) and source.pending():
                        data += source.recv(source.pending())
                    if not data:
                        return  # one side hung up: the other is closed below
                    peers[source].sendall(data)
                    if source is client:
                        relayed.bytes_to_server += len(data)
                        relayed.record(data)
        except OSError:  # ssl.SSLError included: the handshake was refused, or a side went away
            return
        finally:
            for each in sockets:
                with contextlib.suppress(ValueError):
                    self._live.remove(each)
                each.close()
