//! A throwaway certificate authority for tests: one CA, one server
//! certificate for `localhost` and `127.0.0.1` signed by it. Clients trust
//! the CA explicitly (its PEM file); nothing turns verification off.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName};

/// The CA's certificate (to trust) and the server's chain and key (to serve).
pub struct TestCa {
    pub ca_pem: String,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: PrivateKeyDer<'static>,
}

fn rcgen_err(e: rcgen::Error) -> io::Error {
    io::Error::other(format!("making the test certificates failed: {e}"))
}

impl TestCa {
    /// A fresh CA and a server certificate valid for `localhost` and
    /// `127.0.0.1`.
    pub fn generate() -> io::Result<TestCa> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(rcgen_err)?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "session-vault test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().map_err(rcgen_err)?;
        let ca_cert = ca_params.self_signed(&ca_key).map_err(rcgen_err)?;

        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .map_err(rcgen_err)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().map_err(rcgen_err)?;
        let cert = params
            .signed_by(&key, &ca_cert, &ca_key)
            .map_err(rcgen_err)?;
        Ok(TestCa {
            ca_pem: ca_cert.pem(),
            server_chain: vec![cert.der().clone(), ca_cert.der().clone()],
            server_key: PrivateKeyDer::try_from(key.serialize_der()).map_err(io::Error::other)?,
        })
    }

    /// A rustls server configuration offering `alpn` (e.g. `h2`, `http/1.1`).
    pub fn server_config(&self, alpn: &[&[u8]]) -> io::Result<Arc<rustls::ServerConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(self.server_chain.clone(), self.server_key.clone_key())
            .map_err(io::Error::other)?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

/// A rustls client configuration that trusts exactly the CAs in `ca_file`.
pub fn client_config(ca_file: &Path, alpn: &[&[u8]]) -> io::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file)
        .map_err(|e| io::Error::other(format!("{}: {e}", ca_file.display())))?
    {
        let cert = cert.map_err(|e| io::Error::other(format!("{}: {e}", ca_file.display())))?;
        roots.add(cert).map_err(io::Error::other)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The name the test server's certificate is valid for.
pub fn server_name() -> ServerName<'static> {
    ServerName::try_from("localhost").expect("a valid DNS name")
}
