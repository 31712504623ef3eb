//! DNSSEC keys and signatures for lab zones (RFC 4034; algorithms 8, 13 and 15), made with
//! aws-lc-rs at test time.
#![allow(clippy::expect_used)]

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, OnceLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
};

pub use mxdane_dns::dnssec::{ds, key_tag, nsec3_hash, signed_data};

use super::name::Name;
use super::rdata::{Rdata, Record};

/// A DNSSEC signing algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RSA/SHA-256 (8), 2048-bit keys.
    RsaSha256,
    /// ECDSA P-256 with SHA-256 (13).
    EcdsaP256,
    /// Ed25519 (15).
    Ed25519,
}

impl Algorithm {
    /// The IANA number.
    pub fn code(self) -> u8 {
        match self {
            Self::RsaSha256 => 8,
            Self::EcdsaP256 => 13,
            Self::Ed25519 => 15,
        }
    }
}

enum Secret {
    Rsa(rsa::KeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A zone signing key (ZSK, flags 256) or key signing key (KSK, flags 257).
pub struct ZoneKey {
    algorithm: Algorithm,
    flags: u16,
    public: Vec<u8>,
    secret: Secret,
    /// The private key as PKCS#8 (generated ECDSA and Ed25519 keys), for real signers.
    pkcs8: Option<Vec<u8>>,
}

impl fmt::Debug for ZoneKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ZoneKey({:?}, flags {}, tag {})",
            self.algorithm,
            self.flags,
            self.key_tag()
        )
    }
}

impl ZoneKey {
    /// A fresh key.
    pub fn generate(algorithm: Algorithm, ksk: bool) -> Self {
        let rng = SystemRandom::new();
        let (secret, public, pkcs8) = match algorithm {
            Algorithm::EcdsaP256 => {
                let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .expect("ECDSA key generation");
                let pair =
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                        .expect("own PKCS#8");
                // RFC 6605 section 4: the uncompressed point without its 0x04 prefix.
                let public = pair.public_key().as_ref()[1..].to_vec();
                (Secret::Ecdsa(pair), public, Some(pkcs8.as_ref().to_vec()))
            }
            Algorithm::Ed25519 => {
                let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("Ed25519 key generation");
                let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("own PKCS#8");
                let public = pair.public_key().as_ref().to_vec();
                (Secret::Ed25519(pair), public, Some(pkcs8.as_ref().to_vec()))
            }
            Algorithm::RsaSha256 => {
                let pair =
                    rsa::KeyPair::generate(rsa::KeySize::Rsa2048).expect("RSA key generation");
                let parts = rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                (Secret::Rsa(pair), rsa_dnskey(&parts.e, &parts.n), None)
            }
        };
        Self {
            algorithm,
            flags: if ksk { 257 } else { 256 },
            public,
            secret,
            pkcs8,
        }
    }

    /// The private key in PEM (PKCS#8), for a real signer such as Knot's `keymgr import-pem`;
    /// None for RSA keys and keys made from a seed.
    pub fn private_pem(&self) -> Option<String> {
        let der = self.pkcs8.as_ref()?;
        let b64 = data_encoding::BASE64.encode(der);
        let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str("-----END PRIVATE KEY-----\n");
        Some(out)
    }

    /// An Ed25519 key from its 32-byte seed (for test vectors).
    pub fn ed25519_from_seed(seed: &[u8], ksk: bool) -> Option<Self> {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed).ok()?;
        Some(Self {
            pkcs8: None,
            algorithm: Algorithm::Ed25519,
            flags: if ksk { 257 } else { 256 },
            public: pair.public_key().as_ref().to_vec(),
            secret: Secret::Ed25519(pair),
        })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Whether this is a KSK (SEP flag set).
    pub fn is_ksk(&self) -> bool {
        self.flags == 257
    }

    /// The DNSKEY record data.
    pub fn dnskey(&self) -> Rdata {
        Rdata::Dnskey {
            flags: self.flags,
            protocol: 3,
            algorithm: self.algorithm.code(),
            key: self.public.clone(),
        }
    }

    /// The key tag (RFC 4034 appendix B).
    pub fn key_tag(&self) -> u16 {
        key_tag(&self.dnskey().to_wire())
    }

    /// Signs `data` with the algorithm's scheme.
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.secret {
            Secret::Ecdsa(k) => k.sign(&rng, data).expect("ECDSA signing").as_ref().to_vec(),
            Secret::Ed25519(k) => k.sign(data).as_ref().to_vec(),
            Secret::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &rng, data, &mut sig)
                    .expect("RSA signing");
                sig
            }
        }
    }
}

/// RFC 3110 section 2: exponent length, exponent, modulus.
fn rsa_dnskey(e: &[u8], n: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match u8::try_from(e.len()) {
        Ok(len) => out.push(len),
        Err(_) => {
            out.push(0);
            out.extend_from_slice(&u16::try_from(e.len()).unwrap_or(0).to_be_bytes());
        }
    }
    out.extend_from_slice(e);
    out.extend_from_slice(n);
    out
}

/// The process-wide key for `(algorithm, KSK?, slot)`: worlds built again in one test binary
/// reuse their keys, so that RSA key generation is paid once.
pub fn cached_key(algorithm: Algorithm, ksk: bool, slot: &str) -> &'static ZoneKey {
    type Cache = Mutex<HashMap<(Algorithm, bool, String), &'static ZoneKey>>;
    static KEYS: OnceLock<Cache> = OnceLock::new();
    let mut keys = KEYS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    keys.entry((algorithm, ksk, slot.to_owned()))
        .or_insert_with(|| Box::leak(Box::new(ZoneKey::generate(algorithm, ksk))))
}

/// An RRSIG record over `rrset` (all of one owner and type) by `key` of zone `signer`.
pub fn sign_rrset(
    rrset: &[Record],
    key: &ZoneKey,
    signer: &Name,
    inception: u32,
    expiration: u32,
) -> Record {
    let first = &rrset[0];
    let mut rrsig = Rdata::Rrsig {
        type_covered: first.rtype(),
        algorithm: key.algorithm.code(),
        labels: first.name.rrsig_labels(),
        original_ttl: first.ttl,
        expiration,
        inception,
        key_tag: key.key_tag(),
        signer: signer.clone(),
        signature: Vec::new(),
    };
    let data = signed_data(&rrsig.rrsig_header(), rrset, first.ttl);
    if let Rdata::Rrsig { signature, .. } = &mut rrsig {
        *signature = key.sign(&data);
    }
    Record::new(first.name.clone(), first.ttl, rrsig)
}
