"""A private CA and the server certificates it signs, made once with ``cryptography`` and then reused.

Usage::

    ca = CertificateAuthority(Path("/var/lib/oam/elasticsearch-ca"))
    ca.ensure()                                  # ca.crt + ca.key (mode 600), made on the first call only
    ca.ensure_server_certificate(cert, key, hosts=["127.0.0.1", "localhost"])

A server certificate is made again only when it is missing, was not signed by this CA, does not
name every host asked for, or expires within :data:`RENEW_BEFORE`; otherwise it is kept as is.
"""
from __future__ import annotations

import ipaddress
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
SERVER_DAYS = 825
RENEW_BEFORE = timedelta(days=30)


def write_private(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path``, readable by its owner only (mode 600, also when it existed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
    os.chmod(path, 0o600)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


class CertificateAuthority:
    """The CA in ``directory`` (``ca.crt``, ``ca.key``); clients trust ``cert_path``."""

    def __init__(self, directory: Path, name: str = "OAM suite CA") -> None:
        self.directory = Path(directory)
        self.name = name

    @property
    def cert_path(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def key_path(self) -> Path:
        return self.directory / "ca.key"

    def ensure(self) -> bool:
        """Make the CA unless it exists; True if it was just made."""
        if self.cert_path.exists() and self.key_path.exists():
            return False
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.name)])
        now = datetime.now(timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
                .not_valid_after(now + timedelta(days=CA_DAYS))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False, key_agreement=False,
                                             key_cert_sign=True, crl_sign=True, encipher_only=False,
                                             decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        write_private(self.key_path, _key_pem(key))
        write_private(self.cert_path, cert.public_bytes(serialization.Encoding.PEM))
        return True

    def _load(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        return cert, key  # type: ignore[return-value]

    def signed(self, cert: x509.Certificate) -> bool:
        """True if this CA signed ``cert``."""
        try:
            cert.verify_directly_issued_by(self._load()[0])
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True

    def ensure_server_certificate(self, cert_path: Path, key_path: Path, hosts: list[str],
                                  client_auth: bool = False) -> bool:
        """A server certificate for ``hosts`` signed by this CA at ``cert_path``/``key_path`` (mode 600);
        True if it was (re)made, False if the one there still fits. ``client_auth``: also usable as a
        client certificate (a cluster node's transport layer is both)."""
        self.ensure()
        if cert_path.exists() and key_path.exists() and self._fits(cert_path, hosts, client_auth):
            return False
        ca_cert, ca_key = self._load()
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(timezone.utc)
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
                .issuer_name(ca_cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
                .not_valid_after(now + timedelta(days=SERVER_DAYS))
                .add_extension(x509.SubjectAlternativeName([_san(host) for host in hosts]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      *([ExtendedKeyUsageOID.CLIENT_AUTH] if client_auth else [])]),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        write_private(key_path, _key_pem(key))
        write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        return True

    def _fits(self, cert_path: Path, hosts: list[str], client_auth: bool = False) -> bool:
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except (ValueError, x509.ExtensionNotFound):
            return False
        fresh = cert.not_valid_after_utc - RENEW_BEFORE > datetime.now(timezone.utc)
        usable = not client_auth or ExtendedKeyUsageOID.CLIENT_AUTH in usages
        return fresh and usable and self.signed(cert) and all(_san(host) in names for host in hosts)
