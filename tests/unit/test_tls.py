"""The suite's CA and node certificates (backing_services/tls.py): made once, private, reused while they fit."""
from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path

from cryptography import x509

from backing_services.tls import CertificateAuthority


def test_the_ca_and_a_server_certificate_are_made_once_private_and_verify(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "ca")
    assert ca.ensure() is True and ca.ensure() is False
    cert, key = tmp_path / "node" / "node.crt", tmp_path / "node" / "node.key"
    assert ca.ensure_server_certificate(cert, key, ["127.0.0.1", "localhost"]) is True
    assert ca.ensure_server_certificate(cert, key, ["127.0.0.1", "localhost"]) is False  # kept as it is
    for path in (ca.cert_path, ca.key_path, cert, key):
        assert path.stat().st_mode & 0o777 == 0o600, path
    names = x509.load_pem_x509_certificate(cert.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    context = ssl.create_default_context(cafile=str(ca.cert_path))  # a client trusting the CA accepts the pair
    context.load_cert_chain(cert, key)


def test_a_certificate_is_made_again_for_a_new_host_or_another_ca(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "ca")
    cert, key = tmp_path / "node.crt", tmp_path / "node.key"
    ca.ensure_server_certificate(cert, key, ["127.0.0.1"])
    first = cert.read_bytes()
    assert ca.ensure_server_certificate(cert, key, ["127.0.0.1", "10.0.0.5"]) is True and cert.read_bytes() != first
    other = CertificateAuthority(tmp_path / "other-ca")
    other.ensure()
    assert not other.signed(x509.load_pem_x509_certificate(cert.read_bytes()))
    assert other.ensure_server_certificate(cert, key, ["127.0.0.1", "10.0.0.5"]) is True
    assert other.signed(x509.load_pem_x509_certificate(cert.read_bytes()))
