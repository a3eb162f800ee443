"""A throw-away PKI for one local cluster: a CA, serving and client certs, the service-account key pair.

Everything is generated fresh per cluster (ECDSA P-256: fast to generate, accepted by Go's TLS stack and
by the apiserver as a service-account signing key), lives only in the cluster's state dir and is valid for
a short time, so nothing here is worth stealing and nothing outlives the cluster.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=30)
LOOPBACK_NAMES = ("127.0.0.1", "localhost")
KUBERNETES_SERVICE_IP = "10.96.0.1"
"""The first address of the service range: the API server gives it to the `kubernetes` Service."""
KUBERNETES_SERVICE_NAMES = (
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


@dataclass(frozen=True)
class CertificateAuthority:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


@dataclass(frozen=True)
class KeyPairFiles:
    cert: Path
    key: Path


@dataclass(frozen=True)
class ClusterPki:
    """Paths of every PEM file the control plane and the kubelet are started with."""

    ca_cert: Path
    apiserver: KeyPairFiles
    kubelet_serving: KeyPairFiles
    apiserver_kubelet_client: KeyPairFiles
    service_account_key: Path
    service_account_pub: Path


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def new_ca(common_name: str = "dagster-ext-local-ca") -> CertificateAuthority:
    key = new_key()
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(key=key, cert=cert)


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def issue(
    ca: CertificateAuthority,
    common_name: str,
    *,
    organizations: tuple[str, ...] = (),
    sans: tuple[str, ...] = (),
    server: bool = False,
    client: bool = False,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A leaf certificate signed by `ca`; `sans` entries that parse as IPs become IP SANs."""
    key = new_key()
    now = datetime.datetime.now(datetime.timezone.utc)
    usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + (
        [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organizations))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(_sans(sans)), critical=False)
    return key, builder.sign(ca.key, hashes.SHA256())


def _sans(names: tuple[str, ...]) -> list[x509.GeneralName]:
    result: list[x509.GeneralName] = []
    for name in names:
        try:
            result.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            result.append(x509.DNSName(name))
    return result


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write(path: Path, data: bytes, *, private: bool = False) -> Path:
    path.write_bytes(data)
    if private:
        path.chmod(0o600)
    return path


def _write_pair(
    directory: Path, stem: str, pair: tuple[ec.EllipticCurvePrivateKey, x509.Certificate]
) -> KeyPairFiles:
    key, cert = pair
    return KeyPairFiles(
        cert=_write(directory / f"{stem}.crt", cert.public_bytes(serialization.Encoding.PEM)),
        key=_write(directory / f"{stem}.key", _key_pem(key), private=True),
    )


def write_cluster_pki(
    directory: Path, *, node_ip: str | None = None, node_name: str = "localhost"
) -> ClusterPki:
    """Generate and write every certificate and key one local cluster needs into `directory`.

    With a node, the API server's certificate also names the node address it listens on and the
    `kubernetes` Service's ClusterIP (what in-cluster clients dial), and the kubelet's names the node
    address the API server dials for logs and exec."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = new_ca()
    ca_cert = _write(directory / "ca.crt", ca.cert.public_bytes(serialization.Encoding.PEM))
    _write(directory / "ca.key", _key_pem(ca.key), private=True)
    apiserver_sans: tuple[str, ...] = (*LOOPBACK_NAMES, *KUBERNETES_SERVICE_NAMES)
    kubelet_sans: tuple[str, ...] = LOOPBACK_NAMES
    if node_ip is not None:
        apiserver_sans = (*apiserver_sans, node_ip, KUBERNETES_SERVICE_IP)
        kubelet_sans = (*kubelet_sans, node_ip, node_name)
    sa_key = new_key()
    return ClusterPki(
        ca_cert=ca_cert,
        apiserver=_write_pair(
            directory, "apiserver", issue(ca, "kube-apiserver", sans=apiserver_sans, server=True)
        ),
        kubelet_serving=_write_pair(
            directory, "kubelet", issue(ca, "kubelet", sans=kubelet_sans, server=True)
        ),
        apiserver_kubelet_client=_write_pair(
            directory,
            "apiserver-kubelet-client",
            issue(ca, "kube-apiserver-kubelet-client", organizations=("system:masters",), client=True),
        ),
        service_account_key=_write(directory / "sa.key", _key_pem(sa_key), private=True),
        service_account_pub=_write(
            directory / "sa.pub",
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        ),
    )
