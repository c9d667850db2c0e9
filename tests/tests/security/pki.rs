//! A throwaway certificate authority for TLS tests: a CA and a server certificate for
//! `localhost` and `127.0.0.1`, written as PEM files into a directory.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// The PEM files of one test PKI.
pub struct Pki {
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// Another CA's certificate, which did not sign the server certificate.
    pub other_ca_file: PathBuf,
}

fn ca(name: &str) -> (CertificateParams, KeyPair, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let pem = params.self_signed(&key).unwrap().pem();
    (params, key, pem)
}

impl Pki {
    pub fn generate(dir: &Path) -> Pki {
        let (ca_params, ca_key, ca_pem) = ca("bbctl test CA");
        let (_, _, other_pem) = ca("some other CA");
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "bbctl-agent");
        let cert = params.signed_by(&key, &issuer).unwrap();
        let pki = Pki {
            ca_file: dir.join("ca.pem"),
            cert_file: dir.join("agent.crt"),
            key_file: dir.join("agent.key"),
            other_ca_file: dir.join("other-ca.pem"),
        };
        std::fs::write(&pki.ca_file, ca_pem).unwrap();
        std::fs::write(&pki.other_ca_file, other_pem).unwrap();
        std::fs::write(&pki.cert_file, cert.pem()).unwrap();
        std::fs::write(&pki.key_file, key.serialize_pem()).unwrap();
        pki
    }
}
