//! Certificate chains made at test time (test data never expires: validity is relative to now).
//!
//! Panics here are acceptable: this is test scaffolding, and a failure to generate a key or
//! certificate is a broken test environment, not an input error.
#![allow(clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519, PKCS_RSA_SHA256,
    RsaKeySize,
};
use time::{Duration, OffsetDateTime};

/// Key algorithms for test certificates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyAlg {
    /// RSA 2048-bit with SHA-256 signatures.
    Rsa2048,
    /// ECDSA P-256 with SHA-256.
    EcdsaP256,
    /// ECDSA P-384 with SHA-384.
    EcdsaP384,
    /// Ed25519.
    Ed25519,
}

impl KeyAlg {
    /// Every algorithm.
    pub const ALL: [KeyAlg; 4] = [
        KeyAlg::Rsa2048,
        KeyAlg::EcdsaP256,
        KeyAlg::EcdsaP384,
        KeyAlg::Ed25519,
    ];
}

/// The process-wide key for `(alg, slot)`: the same slot gives the same key, different slots give
/// different keys (use a new slot for a "next" key or an impostor CA).
pub fn key(alg: KeyAlg, slot: usize) -> &'static KeyPair {
    static KEYS: OnceLock<Mutex<HashMap<(KeyAlg, usize), &'static KeyPair>>> = OnceLock::new();
    let mut keys = KEYS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    keys.entry((alg, slot)).or_insert_with(|| {
        let pair = match alg {
            KeyAlg::Rsa2048 => KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048),
            KeyAlg::EcdsaP256 => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256),
            KeyAlg::EcdsaP384 => KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384),
            KeyAlg::Ed25519 => KeyPair::generate_for(&PKCS_ED25519),
        };
        Box::leak(Box::new(pair.expect("key generation")))
    })
}

/// What a certificate should look like.
#[derive(Clone, Debug)]
pub struct CertSpec {
    dns_names: Vec<String>,
    common_name: Option<String>,
    ca: bool,
    alg: KeyAlg,
    slot: usize,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    permitted: Vec<String>,
    ips: Vec<std::net::IpAddr>,
}

impl CertSpec {
    /// A CA certificate with this common name, ECDSA P-256 by default.
    pub fn ca(common_name: &str) -> Self {
        Self {
            common_name: Some(common_name.to_owned()),
            ca: true,
            ..Self::base()
        }
    }

    /// A server certificate with these subjectAltName dNSNames (the first also as CN).
    pub fn leaf(dns_names: &[&str]) -> Self {
        Self {
            dns_names: dns_names.iter().map(|s| (*s).to_owned()).collect(),
            common_name: dns_names.first().map(|s| (*s).to_owned()),
            ..Self::base()
        }
    }

    /// A server certificate that names the host only in its subject CN (no subjectAltName).
    pub fn cn_only(common_name: &str) -> Self {
        Self {
            common_name: Some(common_name.to_owned()),
            ..Self::base()
        }
    }

    fn base() -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            dns_names: Vec::new(),
            common_name: None,
            ca: false,
            alg: KeyAlg::EcdsaP256,
            slot: 0,
            not_before: now - Duration::days(1),
            not_after: now + Duration::days(365),
            permitted: Vec::new(),
            ips: Vec::new(),
        }
    }

    /// Adds an iPAddress subjectAltName (a test server reached by address, such as Pebble's).
    pub fn ip_san(mut self, ip: &str) -> Self {
        if let Ok(ip) = ip.parse() {
            self.ips.push(ip);
        }
        self
    }

    /// A CA limited by name constraints to these DNS subtrees (RFC 5280 section 4.2.1.10).
    pub fn permitted_dns(mut self, subtrees: &[&str]) -> Self {
        self.permitted = subtrees.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// The key algorithm.
    pub fn alg(mut self, alg: KeyAlg) -> Self {
        self.alg = alg;
        self
    }

    /// Which of the shared keys of that algorithm to use (see [`key`]).
    pub fn key_slot(mut self, slot: usize) -> Self {
        self.slot = slot;
        self
    }

    /// The validity period.
    pub fn validity(mut self, not_before: OffsetDateTime, not_after: OffsetDateTime) -> Self {
        self.not_before = not_before;
        self.not_after = not_after;
        self
    }

    /// Expired a day ago.
    pub fn expired(self) -> Self {
        let now = OffsetDateTime::now_utc();
        self.validity(now - Duration::days(90), now - Duration::days(1))
    }

    /// Valid only from tomorrow.
    pub fn not_yet_valid(self) -> Self {
        let now = OffsetDateTime::now_utc();
        self.validity(now + Duration::days(1), now + Duration::days(90))
    }

    fn params(&self) -> CertificateParams {
        let mut params =
            CertificateParams::new(self.dns_names.clone()).expect("valid subjectAltNames");
        let mut dn = DistinguishedName::new();
        if let Some(cn) = &self.common_name {
            dn.push(DnType::CommonName, cn.as_str());
        }
        params.distinguished_name = dn;
        for ip in &self.ips {
            params
                .subject_alt_names
                .push(rcgen::SanType::IpAddress(*ip));
        }
        params.not_before = self.not_before;
        params.not_after = self.not_after;
        if !self.permitted.is_empty() {
            params.name_constraints = Some(rcgen::NameConstraints {
                permitted_subtrees: self
                    .permitted
                    .iter()
                    .map(|d| rcgen::GeneralSubtree::DnsName(d.clone()))
                    .collect(),
                excluded_subtrees: Vec::new(),
            });
        }
        // As every public CA does: an Authority Key Identifier, which also names the
        // certificate for ACME Renewal Information (RFC 9773 section 4.1).
        params.use_authority_key_identifier_extension = !self.ca;
        if self.ca {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::DigitalSignature,
            ];
        }
        params
    }

    /// A self-signed certificate.
    pub fn self_signed(self) -> TestCert {
        let key = key(self.alg, self.slot);
        let params = self.params();
        let cert = params.self_signed(key).expect("self-signed certificate");
        TestCert {
            der: cert.der().to_vec(),
            pem: cert.pem(),
            key,
            params,
            alg: self.alg,
        }
    }

    /// A certificate signed by `issuer`.
    pub fn signed_by(self, issuer: &TestCert) -> TestCert {
        let key = key(self.alg, self.slot);
        let params = self.params();
        let signer = Issuer::from_params(&issuer.params, issuer.key);
        let cert = params.signed_by(key, &signer).expect("signed certificate");
        TestCert {
            der: cert.der().to_vec(),
            pem: cert.pem(),
            key,
            params,
            alg: self.alg,
        }
    }
}

impl CertSpec {
    /// A certificate for a key someone else holds (given as its PEM private key), signed by
    /// `issuer`: what a CA issues for a CSR. Returns the certificate in PEM.
    pub fn issue_for_key(self, key_pem: &str, issuer: &TestCert) -> Result<String, String> {
        let key = KeyPair::from_pem(key_pem).map_err(|e| format!("the key: {e}"))?;
        let signer = Issuer::from_params(&issuer.params, issuer.key);
        let cert = self
            .params()
            .signed_by(&key, &signer)
            .map_err(|e| format!("signing: {e}"))?;
        Ok(cert.pem())
    }
}

/// What a CA does with a certificate signing request: checks its signature, and signs its
/// key and names (the request's subject alternative names) under `issuer`, valid from an hour
/// ago for `days`. Returns the leaf in PEM.
pub fn sign_csr(csr_der: &[u8], issuer: &TestCert, days: i64) -> Result<String, String> {
    let der = rustls::pki_types::CertificateSigningRequestDer::from(csr_der);
    let mut request = rcgen::CertificateSigningRequestParams::from_der(&der)
        .map_err(|e| format!("the CSR: {e}"))?;
    let now = OffsetDateTime::now_utc();
    request.params.not_before = now - Duration::hours(1);
    request.params.not_after = now + Duration::days(days);
    request.params.is_ca = IsCa::ExplicitNoCa;
    request.params.use_authority_key_identifier_extension = true;
    let signer = Issuer::from_params(&issuer.params, issuer.key);
    request
        .signed_by(&signer)
        .map(|c| c.pem())
        .map_err(|e| format!("signing: {e}"))
}

/// A generated certificate with its key.
#[derive(Clone, Debug)]
pub struct TestCert {
    der: Vec<u8>,
    pem: String,
    key: &'static KeyPair,
    params: CertificateParams,
    alg: KeyAlg,
}

impl TestCert {
    /// The DER certificate.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The PEM certificate.
    pub fn pem(&self) -> String {
        self.pem.clone()
    }

    /// The private key in PKCS#8 PEM.
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// The private key in PKCS#8 DER.
    pub fn key_der(&self) -> Vec<u8> {
        self.key.serialize_der()
    }

    /// The DER SubjectPublicKeyInfo, computed by rcgen (independently of mxdane-tlsa).
    pub fn spki_der(&self) -> Vec<u8> {
        rcgen::PublicKeyData::subject_public_key_info(self.key)
    }

    /// The key algorithm.
    pub fn alg(&self) -> KeyAlg {
        self.alg
    }
}

/// PEM of several certificates, in the given order (a chain file: leaf first).
pub fn chain_pem(certs: &[&TestCert]) -> String {
    certs.iter().map(|c| c.pem.as_str()).collect()
}

/// A three-level PKI for one host: root, intermediate and leaf, all with `alg` keys.
#[derive(Debug)]
pub struct Pki {
    /// Self-signed root.
    pub root: TestCert,
    /// Intermediate signed by the root.
    pub intermediate: TestCert,
    /// Leaf for the host, signed by the intermediate.
    pub leaf: TestCert,
}

impl Pki {
    /// Root "Lab Root", intermediate "Lab Issuer", leaf for `host`.
    pub fn new(alg: KeyAlg, host: &str) -> Self {
        let root = CertSpec::ca("Lab Root")
            .alg(alg)
            .key_slot(100)
            .self_signed();
        let intermediate = CertSpec::ca("Lab Issuer")
            .alg(alg)
            .key_slot(101)
            .signed_by(&root);
        let leaf = CertSpec::leaf(&[host]).alg(alg).signed_by(&intermediate);
        Self {
            root,
            intermediate,
            leaf,
        }
    }

    /// The chain as a server sends it: leaf, intermediate, root.
    pub fn full_chain_pem(&self) -> String {
        chain_pem(&[&self.leaf, &self.intermediate, &self.root])
    }
}
