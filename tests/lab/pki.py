"""A kubeadm-like PKI for lab masters (a fleet host with `pki: true`): one cluster
CA for the fleet and, per master, an apiserver serving certificate signed by it
whose SANs name what kubeadm's would (the master, the VIP, kubernetes.default,
the first service address). Written with `cryptography` (paramiko's dependency)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PEM = serialization.Encoding.PEM


@dataclass(frozen=True)
class Issued:
    cert_pem: bytes
    key_pem: bytes


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def make_ca(cn: str = "kubernetes", days: int = 3650) -> tuple[Issued, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=True, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return Issued(cert.public_bytes(PEM), _key_pem(key)), key


def issue(ca: Issued, ca_key: ec.EllipticCurvePrivateKey, cn: str, *, org: str | None = None,
          dns: tuple[str, ...] = (), ips: tuple[str, ...] = (), days: int = 365,
          not_before_days: float = 0) -> Issued:
    """A leaf certificate signed by the CA; days/not_before_days may be negative."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    issuer = x509.load_pem_x509_certificate(ca.cert_pem).subject
    builder = (x509.CertificateBuilder().subject_name(_name(cn, org)).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now + dt.timedelta(days=not_before_days, minutes=-5))
               .not_valid_after(now + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return Issued(builder.sign(ca_key, hashes.SHA256()).public_bytes(PEM), _key_pem(key))


def apiserver(ca: Issued, ca_key: ec.EllipticCurvePrivateKey, name: str, address: str,
              vip: str | None, service_ip: str = "10.96.0.1") -> Issued:
    dns = (name, "kubernetes", "kubernetes.default", "kubernetes.default.svc",
           "kubernetes.default.svc.cluster.local")
    ips = tuple(i for i in (service_ip, address, vip) if i)
    return issue(ca, ca_key, "kube-apiserver", dns=dns, ips=ips)
