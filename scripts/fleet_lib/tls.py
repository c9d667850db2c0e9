"""The fleet CA of `scripts/fleet up --hosts` and one certificate per agent, made with openssl.

DIR/tls/ca.pem (the CA certificate: bbctl's `ca_file`) and ca.key; DIR/tls/<slot>.crt and
<slot>.key per agent: an end-entity certificate (CA:FALSE, serverAuth) signed by the CA, with the
host's IP address and host name in subjectAltName, as rustls wants (docs/agent-config.md, `[tls]`).
Keys are EC P-256, mode 600.
"""
import os
from pathlib import Path

from .common import run, write_file

CA_CONFIG = """[req]
distinguished_name = dn
x509_extensions = v3_ca
prompt = no
[dn]
CN = {cn}
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
"""


def agent_extensions(address, dns_name):
    """The x509v3 extensions of an agent's certificate (an `openssl x509 -extfile`)."""
    return (
        "basicConstraints = critical,CA:FALSE\n"
        "keyUsage = critical,digitalSignature\n"
        "extendedKeyUsage = serverAuth\n"
        f"subjectAltName = IP:{address},DNS:{dns_name}\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid\n"
    )


def paths(fleet_dir):
    d = Path(fleet_dir) / "tls"
    return {"dir": str(d), "ca_file": str(d / "ca.pem"), "ca_key": str(d / "ca.key")}


def _ec_key_args(key):
    return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key]


def make_ca(tls, fleet_id, log):
    d = Path(tls["dir"])
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(0o700)
    conf = d / "ca.cnf"
    write_file(conf, CA_CONFIG.format(cn=f"bbctl fleet CA {fleet_id}"))
    run(["openssl", "req", "-x509", *_ec_key_args(tls["ca_key"]), "-days", "3650", "-config", conf,
         "-out", tls["ca_file"]], log, "openssl: the fleet CA")
    os.chmod(tls["ca_key"], 0o600)
    os.chmod(tls["ca_file"], 0o644)


def agent_cert(tls, name, address, dns_name, log):
    """Makes <name>.crt/.key for an agent at `address`; returns {cert_file, key_file}."""
    d = Path(tls["dir"])
    key, csr, crt, ext = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.crt", d / f"{name}.ext"
    run(["openssl", "req", *_ec_key_args(key), "-subj", f"/CN={name}", "-out", csr], log,
        f"openssl: the key and request of agent {name}")
    os.chmod(key, 0o600)
    write_file(ext, agent_extensions(address, dns_name))
    run(["openssl", "x509", "-req", "-in", csr, "-CA", tls["ca_file"], "-CAkey", tls["ca_key"],
         "-CAcreateserial", "-days", "825", "-sha256", "-extfile", ext, "-out", crt], log,
        f"openssl: the certificate of agent {name}")
    csr.unlink()
    return {"cert_file": str(crt), "key_file": str(key)}
