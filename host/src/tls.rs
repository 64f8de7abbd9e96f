//! TLS client settings shared by everything that connects out: etcd (REST and gRPC) and the
//! plugins' HTTP requests. Certificates are verified against the web PKI roots, the system's
//! CA bundle, and the bundles named by `SSL_CERT_FILE` and `REQUESTS_CA_BUNDLE` (the variable
//! pyaviso's users already set for `requests`), unless verification is turned off explicitly.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::ClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

/// The system's CA bundle on Debian and its relatives.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Environment variables that name extra trusted CA bundles (PEM).
const CA_BUNDLE_VARIABLES: [&str; 2] = ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"];

/// The PEM bundles to trust besides the web PKI roots: the system's, then the ones the
/// environment names. A named bundle that does not exist is reported, not silently skipped.
pub fn trusted_bundles() -> Vec<PathBuf> {
    let mut bundles = vec![PathBuf::from(SYSTEM_CA_BUNDLE)];
    for variable in CA_BUNDLE_VARIABLES {
        if let Some(path) = std::env::var_os(variable).filter(|p| !p.is_empty()) {
            let path = PathBuf::from(path);
            if path.exists() {
                bundles.push(path);
            } else {
                tracing::warn!("{variable} names {}, which does not exist", path.display());
            }
        }
    }
    bundles.retain(|b| b.exists());
    bundles
}

/// The trusted bundles' contents, for clients that take PEM text (gRPC).
pub fn trusted_pem() -> Result<Vec<Vec<u8>>, String> {
    trusted_bundles()
        .iter()
        .map(|bundle| {
            std::fs::read(bundle).map_err(|e| format!("cannot read {}: {e}", bundle.display()))
        })
        .collect()
}

/// `message` with a hint when it says a server's certificate was refused: what the user can do.
pub fn explained(message: &str) -> String {
    if message.contains("UnknownIssuer") {
        format!(
            "{message} (the server's certificate is not signed by a trusted authority; \
             name its CA's PEM file in SSL_CERT_FILE)"
        )
    } else if message.contains("NotValidForName") {
        format!("{message} (the server's certificate does not name the host connected to)")
    } else {
        message.to_string()
    }
}

/// TLS client settings: verifying (the default) or, when the user turned verification off
/// (a trigger's `verify: false`), accepting any certificate.
pub fn client_config(verify: bool) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS cannot be set up: {e}"))?;
    let config = if verify {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        for bundle in trusted_bundles() {
            let certificates = CertificateDer::pem_file_iter(&bundle)
                .map_err(|e| format!("cannot read {}: {e}", bundle.display()))?;
            // A bundle may hold entries rustls cannot use; the others still count.
            let (_added, _ignored) = roots.add_parsable_certificates(certificates.flatten());
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// TLS settings that trust no server, for a client that only speaks plain HTTP (reqwest wants
/// some all the same).
pub fn trusting_nobody() -> ClientConfig {
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
}

/// `verify: false`: the server's certificate is not checked (its signatures still are).
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
