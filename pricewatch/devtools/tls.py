"""A self-signed certificate for the Amazon domains, made at run time.

Browsers keep amazon.com on the HSTS preload list, so a browser test must be
served over TLS; one certificate naming every marketplace domain (and the
loopback names) lets one TLS port stand in for all of them.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import ssl
import tempfile
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pricewatch.markets import MARKETS

__all__ = ["CertBundle", "amazon_hostnames", "self_signed_certificate"]


def amazon_hostnames() -> list[str]:
    """www.amazon.com first (the certificate's common name), then every other market."""
    names = ["www.amazon.com", "amazon.com"]
    for market in MARKETS.values():
        for name in (f"www.{market.domain}", market.domain):
            if name not in names:
                names.append(name)
    return names


@dataclasses.dataclass(frozen=True)
class CertBundle:
    cert_pem: bytes
    key_pem: bytes

    def write(self, directory: Path) -> tuple[Path, Path]:
        """Write ``cert.pem`` and ``key.pem`` (for tools that want files, e.g. curl --cacert)."""
        directory.mkdir(parents=True, exist_ok=True)
        cert, key = directory / "cert.pem", directory / "key.pem"
        cert.write_bytes(self.cert_pem)
        key.touch(mode=0o600)
        key.write_bytes(self.key_pem)
        return cert, key

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # load_cert_chain only reads files; the directory lives just long enough
        with tempfile.TemporaryDirectory(prefix="pw-tls-") as tmp:
            cert, key = self.write(Path(tmp))
            context.load_cert_chain(cert, key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this certificate (and verifies host names)."""
        context = ssl.create_default_context(cadata=self.cert_pem.decode("ascii"))
        return context


def self_signed_certificate(
    hostnames: Iterable[str] | None = None, *, days: int = 30
) -> CertBundle:
    """A certificate for ``hostnames`` (default: all Amazon domains) plus localhost/127.0.0.1.

    It is its own CA (basicConstraints CA:TRUE with key identifiers), so a
    client can trust it directly as an anchor under strict X.509 checking.
    """
    names = list(hostnames) if hostnames is not None else amazon_hostnames()
    if not names:
        raise ValueError("a certificate needs at least one host name")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Pricewatch local marketplace"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    san: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    if "localhost" not in names:
        san.append(x509.DNSName("localhost"))
    san.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertBundle(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
