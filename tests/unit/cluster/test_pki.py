"""The throw-away PKI: leaf certs chain to the CA and carry the names clients dial."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from dagster_ext.testing.cluster.pki import write_cluster_pki


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_serving_certs_chain_to_ca_and_name_loopback(tmp_path: Path) -> None:
    pki = write_cluster_pki(tmp_path)
    ca = _load(pki.ca_cert)
    for pair in (pki.apiserver, pki.kubelet_serving):
        cert = _load(pair.cert)
        cert.verify_directly_issued_by(ca)
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
        assert "localhost" in sans.get_values_for_type(x509.DNSName)
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert ExtendedKeyUsageOID.SERVER_AUTH in usage


def test_kubelet_client_cert_is_a_client_cert_of_the_ca(tmp_path: Path) -> None:
    pki = write_cluster_pki(tmp_path)
    cert = _load(pki.apiserver_kubelet_client.cert)
    cert.verify_directly_issued_by(_load(pki.ca_cert))
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_private_keys_are_private_and_sa_pub_matches_key(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    pki = write_cluster_pki(tmp_path)
    for key in (pki.apiserver.key, pki.kubelet_serving.key, pki.service_account_key, tmp_path / "ca.key"):
        assert key.stat().st_mode & 0o077 == 0, key
    private = serialization.load_pem_private_key(pki.service_account_key.read_bytes(), password=None)
    public = serialization.load_pem_public_key(pki.service_account_pub.read_bytes())
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert private.public_key().public_numbers() == public.public_numbers()  # type: ignore[union-attr]


def test_every_cluster_gets_a_new_ca(tmp_path: Path) -> None:
    first = _load(write_cluster_pki(tmp_path / "a").ca_cert)
    second = _load(write_cluster_pki(tmp_path / "b").ca_cert)
    assert first.public_key() != second.public_key()


def test_with_a_node_certs_name_the_node_address_and_the_kubernetes_service(tmp_path: Path) -> None:
    pki = write_cluster_pki(tmp_path, node_ip="10.244.0.1", node_name="node-a")
    apiserver = _load(pki.apiserver.cert).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    kubelet = _load(pki.kubelet_serving.cert).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    api_ips = apiserver.value.get_values_for_type(x509.IPAddress)
    assert {ipaddress.ip_address("10.244.0.1"), ipaddress.ip_address("10.96.0.1")} <= set(api_ips)
    assert "kubernetes.default.svc.cluster.local" in apiserver.value.get_values_for_type(x509.DNSName)
    assert ipaddress.ip_address("10.244.0.1") in kubelet.value.get_values_for_type(x509.IPAddress)
    assert "node-a" in kubelet.value.get_values_for_type(x509.DNSName)
