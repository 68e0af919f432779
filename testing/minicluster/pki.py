"""The throwaway public-key infrastructure of an end-to-end cluster.

A Kubernetes control plane authenticates everything with X.509: one certificate authority
signs the apiserver's serving certificate and the client certificates of the admin, the
controller-manager and the apiserver itself (when it calls the kubelet). Client certificates
carry the user name in CN and the groups in O, so ``O=system:masters`` makes a superuser. The
service-account key pair is separate: the apiserver signs ServiceAccount tokens with the
private key and verifies them with the public one.

Everything is made with the ``openssl`` command-line tool into one directory, fresh for each
cluster, with ECDSA P-256 keys (instant to generate, unlike RSA); nothing here is meant to be
secure beyond a single test session on loopback.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

OPENSSL = "openssl"
DAYS = 30

CA_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = tuneop-e2e-ca
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
"""


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, as PEM files."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    """All the credentials a control plane needs, as files in ``directory``."""

    directory: Path
    ca: KeyPair
    apiserver: KeyPair
    admin: KeyPair
    controller_manager: KeyPair
    apiserver_kubelet_client: KeyPair
    service_account_key: Path
    service_account_pub: Path


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{result.stderr}")


def _new_key(path: Path) -> None:
    _openssl(
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        str(path),
        cwd=path.parent,
    )
    path.chmod(0o600)


def _subject(common_name: str, organizations: tuple[str, ...]) -> str:
    return "".join(f"/O={o}" for o in organizations) + f"/CN={common_name}"


def make_ca(directory: Path, name: str = "ca") -> KeyPair:
    """Create a self-signed certificate authority ``name.crt``/``name.key``."""
    directory.mkdir(parents=True, exist_ok=True)
    pair = KeyPair(directory / f"{name}.crt", directory / f"{name}.key")
    config = directory / f"{name}.cnf"
    config.write_text(CA_CONFIG)
    _new_key(pair.key)
    _openssl(
        "req",
        "-x509",
        "-new",
        "-config",
        str(config),
        "-extensions",
        "v3_ca",
        "-key",
        str(pair.key),
        "-days",
        str(DAYS),
        "-out",
        str(pair.cert),
        cwd=directory,
    )
    return pair


def issue(
    ca: KeyPair,
    directory: Path,
    name: str,
    common_name: str,
    *,
    organizations: tuple[str, ...] = (),
    server: bool = False,
    client: bool = False,
    dns_names: tuple[str, ...] = (),
    ip_addresses: tuple[str, ...] = (),
) -> KeyPair:
    """Issue a leaf certificate signed by ``ca`` for a server, a client, or both."""
    usages = [u for u, wanted in (("serverAuth", server), ("clientAuth", client)) if wanted]
    if not usages:
        raise ValueError("a certificate needs server=True, client=True or both")
    pair = KeyPair(directory / f"{name}.crt", directory / f"{name}.key")
    csr = directory / f"{name}.csr"
    extfile = directory / f"{name}.ext"
    lines = [
        "[leaf]",
        "basicConstraints = critical, CA:FALSE",
        "keyUsage = critical, digitalSignature",
        f"extendedKeyUsage = {', '.join(usages)}",
    ]
    alt_names = [f"DNS:{d}" for d in dns_names] + [f"IP:{ip}" for ip in ip_addresses]
    if alt_names:
        lines.append(f"subjectAltName = {', '.join(alt_names)}")
    extfile.write_text("\n".join(lines) + "\n")
    _new_key(pair.key)
    _openssl(
        "req",
        "-new",
        "-key",
        str(pair.key),
        "-subj",
        _subject(common_name, organizations),
        "-out",
        str(csr),
        cwd=directory,
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca.cert),
        "-CAkey",
        str(ca.key),
        "-set_serial",
        str(secrets.randbits(63)),
        "-days",
        str(DAYS),
        "-extfile",
        str(extfile),
        "-extensions",
        "leaf",
        "-out",
        str(pair.cert),
        cwd=directory,
    )
    csr.unlink()
    extfile.unlink()
    return pair


def self_signed_server(
    directory: Path, name: str, common_name: str, ip_addresses: tuple[str, ...]
) -> KeyPair:
    """Create a self-signed serving certificate (the kubelet's; the apiserver does not
    verify it when it has no ``--kubelet-certificate-authority``)."""
    directory.mkdir(parents=True, exist_ok=True)
    pair = KeyPair(directory / f"{name}.crt", directory / f"{name}.key")
    config = directory / f"{name}.cnf"
    config.write_text(
        "[req]\ndistinguished_name = dn\nprompt = no\n"
        f"[dn]\nCN = {common_name}\n"
        "[leaf]\nbasicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature\n"
        "extendedKeyUsage = serverAuth\n"
        f"subjectAltName = {', '.join(f'IP:{ip}' for ip in ip_addresses)}\n"
    )
    _new_key(pair.key)
    _openssl(
        "req",
        "-x509",
        "-new",
        "-config",
        str(config),
        "-extensions",
        "leaf",
        "-key",
        str(pair.key),
        "-days",
        str(DAYS),
        "-out",
        str(pair.cert),
        cwd=directory,
    )
    return pair


def make_service_account_keys(directory: Path) -> tuple[Path, Path]:
    """Create the key pair that signs and verifies ServiceAccount tokens."""
    key, pub = directory / "sa.key", directory / "sa.pub"
    _new_key(key)
    _openssl("pkey", "-in", str(key), "-pubout", "-out", str(pub), cwd=directory)
    return key, pub


def make_pki(directory: Path, *, service_ip: str = "10.0.0.1") -> Pki:
    """Create every credential of a loopback control plane in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = make_ca(directory)
    apiserver = issue(
        ca,
        directory,
        "apiserver",
        "kube-apiserver",
        server=True,
        dns_names=(
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ),
        ip_addresses=("127.0.0.1", service_ip),
    )
    admin = issue(
        ca, directory, "admin", "tuneop-e2e-admin", organizations=("system:masters",), client=True
    )
    controller_manager = issue(
        ca, directory, "controller-manager", "system:kube-controller-manager", client=True
    )
    kubelet_client = issue(
        ca,
        directory,
        "apiserver-kubelet-client",
        "kube-apiserver-kubelet-client",
        organizations=("system:masters",),
        client=True,
    )
    sa_key, sa_pub = make_service_account_keys(directory)
    return Pki(directory, ca, apiserver, admin, controller_manager, kubelet_client, sa_key, sa_pub)
