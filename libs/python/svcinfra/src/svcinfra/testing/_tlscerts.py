"""`TestCA`: a certificate authority of one test's own, made with the `openssl` command line.

Tests of TLS (issue 17) start private servers with certificates signed by a CA generated for the
run, and a second, unrelated CA stands for "the wrong CA":

    ca = TestCA(tmp_path / "ca")
    server = ca.issue("server", dns=("localhost",), ips=("127.0.0.1",))
    client = ca.issue("client", client=True)
    with PrivateRedis(17002, tls=ServerTls(server.cert, server.key, ca.cert)) as redis: ...

Keys are EC P-256 (fast to make), certificates valid for a day; nothing here is a secret that
outlives the test's temporary directory. The `openssl` binary is the one every Debian has.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ._reaper import PrivateServerError


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate and its private key, as PEM files."""

    cert: Path
    key: Path


@dataclass(frozen=True, slots=True)
class ServerTls:
    """The TLS files of a private server.

    Attributes:
        cert: the server's certificate (PEM).
        key: its private key (PEM).
        ca: the CA that signs client certificates (and, here, the server's).
        require_client_cert: refuse clients without a certificate signed by `ca`.
    """

    cert: Path
    key: Path
    ca: Path
    require_client_cert: bool = False


class TestCA:
    """A self-signed CA in `directory`, and the certificates it issues (see the module docstring).

    Args:
        directory: where the CA's and the issued files go (created).
        name: the CA's common name.
    """

    __test__ = False  # not a pytest test class, despite its name

    def __init__(self, directory: Path, name: str = "svcinfra test CA") -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cert = self.dir / "ca.pem"
        self.key = self.dir / "ca.key"
        _openssl(
            "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", str(self.key), "-out", str(self.cert), "-days", "1",
            "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip

    def issue(
        self,
        name: str,
        *,
        dns: tuple[str, ...] = (),
        ips: tuple[str, ...] = (),
        client: bool = False,
    ) -> Issued:
        """Issue a certificate for `name` with these subject alternative names.

        Args:
            name: the file stem and the common name.
            dns: DNS names the certificate is valid for.
            ips: IP addresses the certificate is valid for.
            client: a client certificate (clientAuth) instead of a server one (serverAuth).
        """
        key = self.dir / f"{name}.key"
        csr = self.dir / f"{name}.csr"
        cert = self.dir / f"{name}.pem"
        ext = self.dir / f"{name}.ext"
        sans = [f"DNS:{d}" for d in dns] + [f"IP:{i}" for i in ips]
        lines = [
            "basicConstraints=critical,CA:FALSE",
            "keyUsage=critical,digitalSignature,keyEncipherment",
            f"extendedKeyUsage={'clientAuth' if client else 'serverAuth'}",
        ]
        if sans:
            lines.append(f"subjectAltName={','.join(sans)}")
        ext.write_text("\n".join(lines) + "\n")
        _openssl(
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}",
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey", str(self.key),
            "-CAcreateserial", "-out", str(cert), "-days", "1", "-extfile", str(ext),
        )  # fmt: skip
        key.chmod(0o600)
        return Issued(cert, key)


def _openssl(*args: str) -> None:
    exe = shutil.which("openssl")
    if exe is None:
        raise PrivateServerError("openssl is not installed (scripts/infra.sh up installs it)")
    done = subprocess.run(  # noqa: S603  (the installed openssl, arguments from this module)
        [exe, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise PrivateServerError(f"openssl {args[0]} failed: {done.stderr.strip()[-800:]}")
