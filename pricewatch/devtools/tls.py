"""Certificates for the Amazon domains, made at run time.

Browsers keep amazon.com on the HSTS preload list, so a browser test must be
served over TLS; one certificate naming every marketplace domain (and the
loopback names) lets one TLS port stand in for all of them.

Two kinds: ``self_signed_certificate`` (its own anchor, for tests that trust it
directly) and, for ``pricewatch up --demo --browser``, a local CA made once under
the data dir (``local_ca``) that issues a fresh server certificate on every start
(``DemoCA.issue``). The demo browser trusts that CA by the SHA-256 of its public key
(``spki_sha256``), for its own profile only: nothing changes system-wide.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import ipaddress
import logging
import ssl
import tempfile
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pricewatch.markets import MARKETS

__all__ = [
    "CertBundle",
    "DemoCA",
    "amazon_hostnames",
    "local_ca",
    "new_ca",
    "self_signed_certificate",
    "spki_sha256",
]

log = logging.getLogger(__name__)

# The local CA lives ten years (it is made once and kept); a server certificate it
# issues lives a month (one is issued on every start).
CA_DAYS = 3650
SERVER_DAYS = 30
# a CA this close to its end is replaced rather than used to issue one more certificate
CA_RENEW_MARGIN = datetime.timedelta(days=SERVER_DAYS + 1)


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
    return CertBundle(cert_pem=cert.public_bytes(serialization.Encoding.PEM), key_pem=_key_pem(key))


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def spki_sha256(cert_pem: bytes) -> str:
    """Base64 of the SHA-256 of the first certificate's SubjectPublicKeyInfo: what
    Chromium's ``--ignore-certificate-errors-spki-list`` takes."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashes.Hash(hashes.SHA256())
    digest.update(spki)
    return base64.b64encode(digest.finalize()).decode("ascii")


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        key_cert_sign=ca,
        crl_sign=ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )


@dataclasses.dataclass(frozen=True)
class DemoCA:
    """The demo's certificate authority: a key and its self-signed certificate."""

    cert_pem: bytes
    key_pem: bytes

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)

    @property
    def spki_sha256(self) -> str:
        return spki_sha256(self.cert_pem)

    def issue(self, hostnames: Iterable[str], *, days: int = SERVER_DAYS) -> CertBundle:
        """A server certificate for ``hostnames`` (plus localhost and 127.0.0.1), signed by
        this CA; its ``cert_pem`` is the chain (server certificate, then the CA's)."""
        names = list(dict.fromkeys(hostnames))
        if not names:
            raise ValueError("a certificate needs at least one host name")
        ca_cert = self.certificate
        ca_key = serialization.load_pem_private_key(self.key_pem, password=None)
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
            raise ValueError("the demo CA's key is not an EC key")
        key = ec.generate_private_key(ec.SECP256R1())
        public = key.public_key()
        san: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
        if "localhost" not in names:
            san.append(x509.DNSName("localhost"))
        san.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
        now = datetime.datetime.now(datetime.UTC)
        # never outlive the CA: a client would refuse the chain the day the CA ends
        not_after = min(now + datetime.timedelta(days=days), ca_cert.not_valid_after_utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_cert.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        return CertBundle(
            cert_pem=cert.public_bytes(serialization.Encoding.PEM) + self.cert_pem,
            key_pem=_key_pem(key),
        )


def new_ca(*, days: int = CA_DAYS) -> DemoCA:
    """A new CA that may only issue server certificates (path length 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Pricewatch demo CA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Pricewatch local marketplace"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return DemoCA(cert_pem=cert.public_bytes(serialization.Encoding.PEM), key_pem=_key_pem(key))


def _check_pair(ca: DemoCA) -> None:
    """ValueError unless the key is the certificate's (both read from files)."""
    key = serialization.load_pem_private_key(ca.key_pem, password=None)
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*der) != ca.certificate.public_key().public_bytes(*der):
        raise ValueError("the key is not the certificate's")


def local_ca(directory: Path) -> DemoCA:
    """The CA kept in ``directory`` (``ca.pem``, ``ca-key.pem``), made there the first
    time; one that cannot be read, or is about to end, is replaced by a new one."""
    cert_file, key_file = directory / "ca.pem", directory / "ca-key.pem"
    try:
        ca = DemoCA(cert_file.read_bytes(), key_file.read_bytes())
        _check_pair(ca)
        ends = ca.certificate.not_valid_after_utc
        if ends - CA_RENEW_MARGIN > datetime.datetime.now(datetime.UTC):
            return ca
        log.info("demo CA in %s ends %s: making a new one", directory, ends)
    except FileNotFoundError:
        pass
    except ValueError as exc:
        log.warning("demo CA in %s cannot be read (%s): making a new one", directory, exc)
    ca = new_ca()
    directory.mkdir(parents=True, exist_ok=True)
    # the key first and private; the certificate last, so a half-written pair is
    # one whose certificate is missing or old, and both are made again
    partial = key_file.with_name(key_file.name + ".partial")
    partial.unlink(missing_ok=True)
    partial.touch(mode=0o600)
    partial.write_bytes(ca.key_pem)
    partial.replace(key_file)
    cert_partial = cert_file.with_name(cert_file.name + ".partial")
    cert_partial.write_bytes(ca.cert_pem)
    cert_partial.replace(cert_file)
    return ca
