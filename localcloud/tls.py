"""A loopback certificate authority and server certificate, made once per process, for services that need https.

Key Vault's SDK sends nothing over plain http: its challenge policy raises before the first request on any URL that
is not https, with no opt-out (azure-keyvault-secrets ``_shared/challenge_auth_policy.py``, ``_enforce_tls``), unlike
azure-core's bearer policy, which a request context can relax (``enforce_https``). So the emulator speaks TLS too,
on the same port as plain http (``localcloud.httpserver`` tells them apart by the first byte).

The certificate names 127.0.0.1, ::1 and localhost and is signed by a throwaway CA that is written next to it;
a client trusts the CA file (``connection_verify=ca_file``) and nothing else changes. The files live in a private
temporary directory that is removed when the process exits. Nothing here is a secret worth keeping.
"""

from __future__ import annotations

import atexit
import ipaddress
import ssl
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_FOR = timedelta(days=30)


@dataclass(frozen=True)
class LoopbackCertificate:
    ca_file: Path  # what a client trusts
    cert_file: Path  # the server's chain: its certificate, then the CA's
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


@lru_cache(maxsize=1)
def loopback_certificate() -> LoopbackCertificate:
    """This process's CA and loopback server certificate (made on first use; ~ms with EC P-256 keys)."""
    directory = tempfile.TemporaryDirectory(prefix="localcloud-tls-")
    atexit.register(directory.cleanup)
    root = Path(directory.name)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _ca_certificate(ca_key)
    leaf = _server_certificate(leaf_key, ca, ca_key)
    pem = serialization.Encoding.PEM
    (root / "ca.pem").write_bytes(ca.public_bytes(pem))
    (root / "server.pem").write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    (root / "server.key").write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return LoopbackCertificate(root / "ca.pem", root / "server.pem", root / "server.key")


def _builder(subject: str, issuer: x509.Name, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + VALID_FOR)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localcloud loopback CA")])
    usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)  # keyCertSign, cRLSign
    return (
        _builder("localcloud loopback CA", name, key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .sign(key, hashes.SHA256())
    )


def _server_certificate(
    key: ec.EllipticCurvePrivateKey, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    names = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)  # digitalSignature
    return (
        _builder("localhost", ca.subject, key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
