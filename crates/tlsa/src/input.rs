//! Certificates and keys as operators have them: PEM or DER files holding a certificate, a chain,
//! a public key or a private key (PKCS#8, PKCS#1 RSA, SEC1 EC).
//!
//! A private key stands for its public half: operators pre-generate the "next" key long before a
//! certificate exists for it (the "current + next" rollover of RFC 7671 section 8.1).

use std::fmt;
use std::io::Cursor;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{self, KeyPair};
use rustls_pki_types::pem::{self, SectionKind};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
use x509_parser::x509::SubjectPublicKeyInfo;

/// A parsed X.509 certificate: its DER form and the facts DANE needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    spki: Vec<u8>,
    subject: String,
    issuer: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    key_type: KeyType,
    is_ca: bool,
    dns_names: Vec<String>,
    common_names: Vec<String>,
    name_constraints: Option<NameConstraints>,
}

/// The DNS-name part of a CA's name constraints (RFC 5280 section 4.2.1.10).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameConstraints {
    /// Permitted dNSName subtrees (empty: no dNSName permitted subtrees were listed).
    pub permitted: Vec<String>,
    /// Excluded dNSName subtrees.
    pub excluded: Vec<String>,
    /// Whether the extension lists other kinds of names too (IP addresses, e-mail...).
    pub other_kinds: bool,
}

/// The public key algorithm of a certificate or key.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// RSA with the modulus size in bits.
    Rsa(usize),
    /// ECDSA on NIST P-256.
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
    /// ECDSA on NIST P-521.
    EcdsaP521,
    /// Ed25519.
    Ed25519,
    /// Ed448.
    Ed448,
    /// Anything else.
    Other,
}

impl KeyType {
    /// The key family as used for per-algorithm probing: `rsa`, `ecdsa`, `eddsa` or `other`.
    pub fn family(self) -> &'static str {
        match self {
            Self::Rsa(_) => "rsa",
            Self::EcdsaP256 | Self::EcdsaP384 | Self::EcdsaP521 => "ecdsa",
            Self::Ed25519 | Self::Ed448 => "eddsa",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rsa(bits) => write!(f, "RSA-{bits}"),
            Self::EcdsaP256 => f.write_str("ECDSA P-256"),
            Self::EcdsaP384 => f.write_str("ECDSA P-384"),
            Self::EcdsaP521 => f.write_str("ECDSA P-521"),
            Self::Ed25519 => f.write_str("Ed25519"),
            Self::Ed448 => f.write_str("Ed448"),
            Self::Other => f.write_str("unknown key type"),
        }
    }
}

/// A public key in SubjectPublicKeyInfo form (what TLSA selector 1 covers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    spki: Vec<u8>,
    key_type: KeyType,
}

impl PublicKey {
    /// A public key from the DER of a SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, InputError> {
        let (rest, spki) = SubjectPublicKeyInfo::from_der(der).map_err(|e| InputError::BadDer {
            what: "public key",
            detail: e.to_string(),
        })?;
        if !rest.is_empty() {
            return Err(InputError::TrailingData {
                what: "public key",
                len: rest.len(),
            });
        }
        Ok(Self {
            key_type: key_type_of(&spki),
            spki: der.to_vec(),
        })
    }

    /// The DER of the SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The key algorithm.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }
}

impl Certificate {
    /// Parses one DER certificate; trailing data is an error.
    pub fn from_der(der: &[u8]) -> Result<Self, InputError> {
        let (rest, cert) = X509Certificate::from_der(der).map_err(|e| InputError::BadDer {
            what: "certificate",
            detail: e.to_string(),
        })?;
        if !rest.is_empty() {
            return Err(InputError::TrailingData {
                what: "certificate",
                len: rest.len(),
            });
        }
        let tbs = &cert.tbs_certificate;
        let mut dns_names = Vec::new();
        if let Ok(Some(san)) = tbs.subject_alternative_name() {
            for name in &san.value.general_names {
                if let GeneralName::DNSName(n) = name {
                    dns_names.push((*n).to_owned());
                }
            }
        }
        let name_constraints = match tbs.name_constraints() {
            Ok(Some(ext)) => {
                let mut nc = NameConstraints::default();
                let take = |subtrees: &Option<Vec<x509_parser::extensions::GeneralSubtree<'_>>>,
                            into_permitted: bool,
                            nc: &mut NameConstraints| {
                    for st in subtrees.iter().flatten() {
                        match &st.base {
                            GeneralName::DNSName(n) => {
                                let n = (*n).to_ascii_lowercase();
                                if into_permitted {
                                    nc.permitted.push(n);
                                } else {
                                    nc.excluded.push(n);
                                }
                            }
                            _ => nc.other_kinds = true,
                        }
                    }
                };
                take(&ext.value.permitted_subtrees, true, &mut nc);
                take(&ext.value.excluded_subtrees, false, &mut nc);
                Some(nc)
            }
            // An unreadable or duplicated extension constrains everything we cannot read.
            Err(_) => Some(NameConstraints {
                other_kinds: true,
                ..NameConstraints::default()
            }),
            Ok(None) => None,
        };
        let common_names = tbs
            .subject
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
            .collect();
        let is_ca = matches!(tbs.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
        Ok(Self {
            spki: tbs.subject_pki.raw.to_vec(),
            subject: tbs.subject.to_string(),
            issuer: tbs.issuer.to_string(),
            not_before: tbs.validity.not_before.to_datetime(),
            not_after: tbs.validity.not_after.to_datetime(),
            key_type: key_type_of(&tbs.subject_pki),
            is_ca,
            dns_names,
            common_names,
            name_constraints,
            der: der.to_vec(),
        })
    }

    /// The DER of the whole certificate (what TLSA selector 0 covers).
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The DER of the SubjectPublicKeyInfo (what TLSA selector 1 covers).
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The subject distinguished name, e.g. `CN=mail.example.com`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The issuer distinguished name.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Start of the validity period.
    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    /// End of the validity period.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// The public key algorithm.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// Whether basic constraints mark this as a CA certificate.
    pub fn is_ca(&self) -> bool {
        self.is_ca
    }

    /// Whether subject and issuer names are equal (a root or a self-issued certificate).
    pub fn is_self_issued(&self) -> bool {
        self.subject == self.issuer
    }

    /// The DNS-name constraints this certificate puts on the names below it, if it has the
    /// extension.
    pub fn name_constraints(&self) -> Option<&NameConstraints> {
        self.name_constraints.as_ref()
    }

    /// The subjectAltName dNSName entries.
    pub fn dns_names(&self) -> &[String] {
        &self.dns_names
    }

    /// The subject common names.
    pub fn common_names(&self) -> &[String] {
        &self.common_names
    }

    /// The public key of this certificate.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            spki: self.spki.clone(),
            key_type: self.key_type,
        }
    }
}

fn key_type_of(spki: &SubjectPublicKeyInfo<'_>) -> KeyType {
    use x509_parser::public_key::PublicKey as Parsed;
    let curve = || {
        spki.algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .map(|oid| oid.to_id_string())
    };
    match spki.algorithm.algorithm.to_id_string().as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => match spki.parsed() {
            Ok(Parsed::RSA(rsa)) => KeyType::Rsa(rsa.key_size()),
            _ => KeyType::Other,
        },
        "1.2.840.10045.2.1" => match curve().as_deref() {
            Some("1.2.840.10045.3.1.7") => KeyType::EcdsaP256,
            Some("1.3.132.0.34") => KeyType::EcdsaP384,
            Some("1.3.132.0.35") => KeyType::EcdsaP521,
            _ => KeyType::Other,
        },
        "1.3.101.112" => KeyType::Ed25519,
        "1.3.101.113" => KeyType::Ed448,
        _ => KeyType::Other,
    }
}

/// What a certificate or key file held.
#[derive(Clone, Debug, Default)]
pub struct Material {
    /// Certificates in file order (for a chain file: leaf first, as a server sends them).
    pub certificates: Vec<Certificate>,
    /// Public keys, including the public halves of private keys.
    pub keys: Vec<PublicKey>,
}

/// Reads PEM (any number of CERTIFICATE, PUBLIC KEY, PRIVATE KEY, RSA PRIVATE KEY and
/// EC PRIVATE KEY blocks) or a single DER certificate or key.
pub fn read_material(bytes: &[u8]) -> Result<Material, InputError> {
    if !looks_like_pem(bytes) {
        return read_der(bytes);
    }
    let mut material = Material::default();
    let mut reader = Cursor::new(bytes);
    loop {
        let section =
            pem::from_buf(&mut reader).map_err(|e| InputError::BadPem(pem_problem(&e)))?;
        let Some((kind, der)) = section else { break };
        match kind {
            SectionKind::Certificate => material.certificates.push(Certificate::from_der(&der)?),
            SectionKind::PublicKey => material.keys.push(PublicKey::from_spki_der(&der)?),
            SectionKind::PrivateKey => material.keys.push(public_half(&der, PrivateForm::Pkcs8)?),
            SectionKind::RsaPrivateKey => {
                material.keys.push(public_half(&der, PrivateForm::Pkcs1)?)
            }
            SectionKind::EcPrivateKey => material.keys.push(public_half(&der, PrivateForm::Sec1)?),
            _ => return Err(InputError::WrongPemBlock(pem_labels(bytes))),
        }
    }
    if material.certificates.is_empty() && material.keys.is_empty() {
        return Err(InputError::WrongPemBlock(pem_labels(bytes)));
    }
    Ok(material)
}

fn pem_problem(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { end_marker } => {
            format!(
                "a PEM block is truncated: its \"-----END {}-----\" line is missing",
                String::from_utf8_lossy(end_marker)
            )
        }
        pem::Error::IllegalSectionStart { line } => {
            format!(
                "a malformed BEGIN line: \"{}\"",
                String::from_utf8_lossy(line)
            )
        }
        pem::Error::Base64Decode(why) => format!("a PEM block has invalid base64 ({why})"),
        other => other.to_string(),
    }
}

fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

/// The labels of the PEM blocks in `bytes`, for error messages.
fn pem_labels(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let labels: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("-----BEGIN ")?.strip_suffix("-----"))
        .collect();
    if labels.is_empty() {
        "no complete PEM block".to_owned()
    } else {
        labels.join(", ")
    }
}

fn read_der(bytes: &[u8]) -> Result<Material, InputError> {
    if bytes.is_empty() {
        return Err(InputError::Empty);
    }
    let cert_error = match Certificate::from_der(bytes) {
        Ok(cert) => {
            return Ok(Material {
                certificates: vec![cert],
                keys: vec![],
            });
        }
        Err(e) => e,
    };
    if let Ok(key) = PublicKey::from_spki_der(bytes) {
        return Ok(Material {
            certificates: vec![],
            keys: vec![key],
        });
    }
    for form in [PrivateForm::Pkcs8, PrivateForm::Pkcs1, PrivateForm::Sec1] {
        if let Ok(key) = public_half(bytes, form) {
            return Ok(Material {
                certificates: vec![],
                keys: vec![key],
            });
        }
    }
    // Most DER inputs are certificates: report why it was not one.
    Err(cert_error)
}

#[derive(Clone, Copy, Debug)]
enum PrivateForm {
    Pkcs8,
    Pkcs1,
    Sec1,
}

/// The public half of a private key, as a SubjectPublicKeyInfo.
fn public_half(der: &[u8], form: PrivateForm) -> Result<PublicKey, InputError> {
    let spki = match form {
        PrivateForm::Pkcs1 => signature::RsaKeyPair::from_der(der)
            .ok()
            .and_then(|k| rsa_spki(&k)),
        PrivateForm::Pkcs8 => signature::RsaKeyPair::from_pkcs8(der)
            .ok()
            .and_then(|k| rsa_spki(&k))
            .or_else(|| ecdsa_spki(der))
            .or_else(|| {
                let k = signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).ok()?;
                k.public_key().as_der().ok().map(|d| d.as_ref().to_vec())
            }),
        PrivateForm::Sec1 => ecdsa_spki(der),
    };
    let spki = spki.ok_or(InputError::UnsupportedKey(match form {
        PrivateForm::Pkcs8 => "PKCS#8",
        PrivateForm::Pkcs1 => "PKCS#1 RSA",
        PrivateForm::Sec1 => "SEC1 EC",
    }))?;
    PublicKey::from_spki_der(&spki)
}

fn rsa_spki(k: &signature::RsaKeyPair) -> Option<Vec<u8>> {
    k.public_key().as_der().ok().map(|d| d.as_ref().to_vec())
}

fn ecdsa_spki(der: &[u8]) -> Option<Vec<u8>> {
    [
        &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
    ]
    .into_iter()
    .find_map(|alg| signature::EcdsaKeyPair::from_private_key_der(alg, der).ok())
    .and_then(|k| k.public_key().as_der().ok().map(|d| d.as_ref().to_vec()))
}

/// Why certificate or key input could not be read.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputError {
    /// The input is empty.
    Empty,
    /// The PEM framing is broken.
    BadPem(String),
    /// PEM blocks of a kind that is neither a certificate nor a key (their labels).
    WrongPemBlock(String),
    /// DER that does not parse (truncated, or not the expected structure).
    BadDer {
        /// What was expected.
        what: &'static str,
        /// The parser's words.
        detail: String,
    },
    /// Extra octets after a complete DER structure.
    TrailingData {
        /// What was parsed.
        what: &'static str,
        /// How many octets followed.
        len: usize,
    },
    /// A private key in a form or algorithm that cannot be read.
    UnsupportedKey(&'static str),
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("the input is empty"),
            Self::BadPem(detail) => write!(f, "malformed PEM: {detail}"),
            Self::WrongPemBlock(labels) => {
                write!(
                    f,
                    "found no certificate or key (PEM blocks found: {labels})"
                )
            }
            Self::BadDer { what, detail } => {
                write!(f, "not a valid DER {what} (truncated or corrupt): {detail}")
            }
            Self::TrailingData { what, len } => {
                write!(f, "{len} unexpected octets follow the DER {what}")
            }
            Self::UnsupportedKey(form) => write!(
                f,
                "cannot read the {form} private key (supported: RSA 2048-8192, ECDSA P-256/P-384/P-521, Ed25519; unencrypted)"
            ),
        }
    }
}

impl std::error::Error for InputError {}
