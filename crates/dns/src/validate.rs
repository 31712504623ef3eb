//! The embedded validator (RFC 4035 section 5): DNSKEYs authenticated from trust anchors down a
//! chain of DS records, RRSIGs checked against a clock tests can set, and denial of existence
//! proven with NSEC (RFC 4035 section 5.4) or NSEC3 (RFC 5155 section 8). It asks a recursive
//! resolver with CD set (RFC 6840 section 5.9) and judges everything itself.
//!
//! Zone cuts are found top-down: from the deepest trust anchor above a name, a DS query for each
//! label towards it says whether a secure delegation, an insecure delegation (NS without DS,
//! or Opt-Out) or no cut lies there. Results are cached per validator.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lc_rs::signature::{self, UnparsedPublicKey};
use data_encoding::BASE32HEX_NOPAD;

use crate::dnssec::{ds_with, key_tag, nsec3_hash, signed_data};
use crate::message::{Message, QueryFlags, rcode};
use crate::name::Name;
use crate::rdata::{Rdata, Record, rtype};
use crate::transport::{LookupError, Transport};

/// The DNSSEC algorithms we validate (RFC 8624 "MUST"/"RECOMMENDED"): RSA/SHA-256 (8),
/// RSA/SHA-512 (10), ECDSA P-256 (13), ECDSA P-384 (14), Ed25519 (15). Anything else, including
/// RSA/SHA-1 (5, 7), makes a zone insecure (RFC 6840 section 5.2; CHECKLIST D-03, D-17).
pub const SUPPORTED_ALGORITHMS: [u8; 5] = [8, 10, 13, 14, 15];
/// DS digest types we can check: SHA-1 (1), SHA-256 (2), SHA-384 (4).
pub const SUPPORTED_DIGESTS: [u8; 3] = [1, 2, 4];
/// NSEC3 iteration counts above this are treated as insecure (RFC 9276 section 3.2).
pub const MAX_NSEC3_ITERATIONS: u16 = 150;

/// A trust anchor: DS or DNSKEY data for a zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustAnchor {
    /// The zone.
    pub zone: Name,
    /// DS or DNSKEY record data.
    pub data: Rdata,
}

/// The IANA root KSKs (KSK-2017, tag 20326, and KSK-2024, tag 38696) as DS records.
pub fn iana_root_anchors() -> Vec<TrustAnchor> {
    let ds = |key_tag, hex: &str| TrustAnchor {
        zone: Name::root(),
        data: Rdata::Ds {
            key_tag,
            algorithm: 8,
            digest_type: 2,
            digest: data_encoding::HEXUPPER_PERMISSIVE
                .decode(hex.as_bytes())
                .unwrap_or_default(),
        },
    };
    vec![
        ds(
            20326,
            "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
        ),
        ds(
            38696,
            "683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16",
        ),
    ]
}

/// The security of a zone as the validator established it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ZoneState {
    /// Authenticated DNSKEYs of the zone.
    Secure(Vec<Rdata>),
    /// Provably unsigned (insecure delegation, unsupported algorithms, or no anchor above).
    Insecure,
    /// Should be signed but cannot be authenticated.
    Bogus(String),
}

/// What a DS query at a name says.
#[derive(Clone)]
enum Cut {
    /// A secure delegation with these DS records.
    Secure(Vec<Rdata>),
    /// An insecure delegation (NS without DS, or an Opt-Out span).
    Insecure,
    /// No zone cut: the name lies inside the zone.
    Inside,
    /// The name does not exist.
    Absent,
}

/// The validator's state: transport, anchors, clock, caches.
pub(crate) struct Validator {
    pub(crate) transport: Arc<dyn Transport>,
    anchors: Vec<TrustAnchor>,
    clock: Arc<dyn Fn() -> u32 + Send + Sync>,
    zones: Mutex<HashMap<Name, ZoneState>>,
    cuts: Mutex<HashMap<Name, Result<Cut, String>>>,
}

pub(crate) const CD: QueryFlags = QueryFlags {
    rd: true,
    cd: true,
    dnssec_ok: true,
};

impl Validator {
    pub(crate) fn new(
        transport: Arc<dyn Transport>,
        anchors: Vec<TrustAnchor>,
        clock: Arc<dyn Fn() -> u32 + Send + Sync>,
    ) -> Self {
        Self {
            transport,
            anchors,
            clock,
            zones: Mutex::new(HashMap::new()),
            cuts: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn now(&self) -> u32 {
        (self.clock)()
    }

    pub(crate) fn ask(&self, name: &Name, qtype: u16) -> Result<Message, LookupError> {
        let msg = self.transport.exchange(name, qtype, CD)?;
        match msg.rcode {
            rcode::NOERROR | rcode::NXDOMAIN => Ok(msg),
            rcode::SERVFAIL => Err(LookupError::Servfail),
            other => Err(LookupError::Rcode(other)),
        }
    }

    /// The zone that holds `name` and its state, found top-down from the deepest anchor.
    pub(crate) fn zone_of(&self, name: &Name) -> Result<(Name, ZoneState), LookupError> {
        let Some(anchor_zone) = self
            .anchors
            .iter()
            .filter(|a| name.is_at_or_below(&a.zone))
            .map(|a| a.zone.clone())
            .max_by_key(Name::len)
        else {
            // D-01: no trust anchor covers the name: insecure, not indeterminate.
            return Ok((Name::root(), ZoneState::Insecure));
        };
        let mut zone = anchor_zone.clone();
        let mut state = self.anchored_keys(&anchor_zone)?;
        for depth in anchor_zone.len() + 1..=name.len() {
            let ZoneState::Secure(keys) = &state else {
                break;
            };
            let child = name.suffix(depth);
            match self.cut_at(&child, &zone, keys) {
                Ok(Cut::Secure(ds)) => {
                    state = self.child_keys(&child, &ds)?;
                    zone = child;
                }
                Ok(Cut::Insecure) => return Ok((child, ZoneState::Insecure)),
                Ok(Cut::Inside) => {}
                Ok(Cut::Absent) => break,
                Err(CutError::Bogus(why)) => return Ok((child, ZoneState::Bogus(why))),
                Err(CutError::Lookup(e)) => return Err(e),
            }
        }
        Ok((zone, state))
    }

    fn anchored_keys(&self, zone: &Name) -> Result<ZoneState, LookupError> {
        if let Some(s) = self
            .zones
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(zone)
        {
            return Ok(s.clone());
        }
        let anchors: Vec<&Rdata> = self
            .anchors
            .iter()
            .filter(|a| a.zone == *zone)
            .map(|a| &a.data)
            .collect();
        let ds: Vec<Rdata> = anchors
            .iter()
            .filter(|a| matches!(a, Rdata::Ds { .. }))
            .map(|a| (*a).clone())
            .collect();
        let keys: Vec<Rdata> = anchors
            .iter()
            .filter(|a| matches!(a, Rdata::Dnskey { .. }))
            .map(|a| (*a).clone())
            .collect();
        let state = self.dnskeys_via(zone, &ds, &keys)?;
        self.zones
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(zone.clone(), state.clone());
        Ok(state)
    }

    fn child_keys(&self, zone: &Name, ds: &[Rdata]) -> Result<ZoneState, LookupError> {
        if let Some(s) = self
            .zones
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(zone)
        {
            return Ok(s.clone());
        }
        let state = self.dnskeys_via(zone, ds, &[])?;
        self.zones
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(zone.clone(), state.clone());
        Ok(state)
    }

    /// Fetches the zone's DNSKEY RRset and authenticates it with a key that matches one of
    /// `ds` (or equals one of `trusted_keys`) and signs the RRset.
    fn dnskeys_via(
        &self,
        zone: &Name,
        ds: &[Rdata],
        trusted_keys: &[Rdata],
    ) -> Result<ZoneState, LookupError> {
        let usable_ds: Vec<&Rdata> = ds
            .iter()
            .filter(|d| {
                matches!(d, Rdata::Ds { algorithm, digest_type, .. }
                    if SUPPORTED_ALGORITHMS.contains(algorithm) && SUPPORTED_DIGESTS.contains(digest_type))
            })
            .collect();
        let usable_keys: Vec<&Rdata> = trusted_keys
            .iter()
            .filter(|k| matches!(k, Rdata::Dnskey { algorithm, .. } if SUPPORTED_ALGORITHMS.contains(algorithm)))
            .collect();
        if usable_ds.is_empty() && usable_keys.is_empty() {
            // RFC 4035 section 5.2 / RFC 6840 section 5.2: nothing we can use: insecure.
            return Ok(ZoneState::Insecure);
        }
        let msg = self.ask(zone, rtype::DNSKEY)?;
        let keys: Vec<Record> = msg
            .answer
            .iter()
            .filter(|r| r.name == *zone && r.rtype() == rtype::DNSKEY)
            .cloned()
            .collect();
        if keys.is_empty() {
            return Ok(ZoneState::Bogus(format!("{zone}: no DNSKEY RRset")));
        }
        let sigs = sigs_for(&msg.answer, zone, rtype::DNSKEY);
        let anchors: Vec<Rdata> = keys
            .iter()
            .filter(|k| {
                usable_keys.contains(&&k.rdata)
                    || usable_ds.iter().any(|d| {
                        let Rdata::Ds { digest_type, .. } = d else {
                            return false;
                        };
                        ds_with(zone, &k.rdata, *digest_type).as_ref() == Some(*d)
                    })
            })
            .map(|k| k.rdata.clone())
            .collect();
        if anchors.is_empty() {
            return Ok(ZoneState::Bogus(format!(
                "{zone}: no DNSKEY matches the DS records (key tags {})",
                ds_tags(ds)
            )));
        }
        match verify_rrset(&keys, &sigs, zone, &anchors, self.now()) {
            Ok(()) => Ok(ZoneState::Secure(
                keys.into_iter().map(|k| k.rdata).collect(),
            )),
            Err(why) => Ok(ZoneState::Bogus(format!("{zone} DNSKEY: {why}"))),
        }
    }

    /// Asks for the DS of `child` (a name one label below `zone`) and judges the answer with
    /// `zone`'s keys.
    fn cut_at(&self, child: &Name, zone: &Name, keys: &[Rdata]) -> Result<Cut, CutError> {
        if let Some(c) = self
            .cuts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(child)
        {
            return c.clone().map_err(CutError::Bogus);
        }
        let msg = self.ask(child, rtype::DS).map_err(CutError::Lookup)?;
        let result = self.judge_cut(child, zone, keys, &msg);
        self.cuts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(child.clone(), result.clone());
        result.map_err(CutError::Bogus)
    }

    fn judge_cut(
        &self,
        child: &Name,
        zone: &Name,
        keys: &[Rdata],
        msg: &Message,
    ) -> Result<Cut, String> {
        let now = self.now();
        let ds: Vec<Record> = msg
            .answer
            .iter()
            .filter(|r| r.name == *child && r.rtype() == rtype::DS)
            .cloned()
            .collect();
        if !ds.is_empty() {
            verify_rrset(
                &ds,
                &sigs_for(&msg.answer, child, rtype::DS),
                zone,
                keys,
                now,
            )
            .map_err(|e| format!("DS of {child}: {e}"))?;
            return Ok(Cut::Secure(ds.into_iter().map(|r| r.rdata).collect()));
        }
        if msg
            .answer
            .iter()
            .any(|r| r.name == *child && r.rtype() == rtype::CNAME)
        {
            return Ok(Cut::Inside);
        }
        let proof = Denial::collect(msg, zone, keys, now)?;
        if msg.rcode == rcode::NXDOMAIN {
            return match proof.nxdomain(child)? {
                Proven::Secure => Ok(Cut::Absent),
                Proven::OptOut => Ok(Cut::Insecure),
            };
        }
        match proof.types_at(child)? {
            Some(types) => {
                if types.contains(&rtype::DS) {
                    Err(format!(
                        "{child}: the NSEC bitmap lists DS, the answer has none"
                    ))
                } else if types.contains(&rtype::NS) && !types.contains(&rtype::SOA) {
                    Ok(Cut::Insecure)
                } else {
                    Ok(Cut::Inside)
                }
            }
            // An empty non-terminal (NSEC), an Opt-Out span (NSEC3), or a name that only a
            // wildcard covers.
            None => match proof
                .nodata_without_match(child)
                .or_else(|_| proof.wildcard_nodata(child, rtype::DS))?
            {
                Proven::Secure => Ok(Cut::Inside),
                Proven::OptOut => Ok(Cut::Insecure),
            },
        }
    }
}

enum CutError {
    Bogus(String),
    Lookup(LookupError),
}

fn ds_tags(ds: &[Rdata]) -> String {
    ds.iter()
        .filter_map(|d| match d {
            Rdata::Ds { key_tag, .. } => Some(key_tag.to_string()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The RRSIGs in `records` covering `owner`/`t`.
pub(crate) fn sigs_for(records: &[Record], owner: &Name, t: u16) -> Vec<Record> {
    records
        .iter()
        .filter(|r| {
            r.name == *owner
                && matches!(&r.rdata, Rdata::Rrsig { type_covered, .. } if *type_covered == t)
        })
        .cloned()
        .collect()
}

/// Verifies that one of `sigs` (RRSIG records) by `zone` with one of `keys` (DNSKEY data)
/// signs `rrset` at time `now` (seconds since 1970), with the checks of RFC 4035 section 5.3.
/// Returns the reason for the last failure otherwise (which key tag, which window).
pub fn verify_rrset(
    rrset: &[Record],
    sigs: &[Record],
    zone: &Name,
    keys: &[Rdata],
    now: u32,
) -> Result<(), String> {
    let Some(first) = rrset.first() else {
        return Err("empty RRset".into());
    };
    if sigs.is_empty() {
        return Err(format!(
            "{} {}: no RRSIG",
            first.name,
            crate::rdata::type_name(first.rtype())
        ));
    }
    let mut why = String::new();
    for sig in sigs {
        let Rdata::Rrsig {
            algorithm,
            labels,
            original_ttl,
            expiration,
            inception,
            key_tag: tag,
            signer,
            signature,
            ..
        } = &sig.rdata
        else {
            continue;
        };
        if signer != zone {
            why = format!("RRSIG by {signer}, expected the zone {zone}");
            continue;
        }
        if !SUPPORTED_ALGORITHMS.contains(algorithm) {
            why = format!("RRSIG algorithm {algorithm} is not supported");
            continue;
        }
        if usize::from(*labels) > first.name.len() {
            why = format!("RRSIG labels {labels} exceed the owner's");
            continue;
        }
        if now < *inception || now > *expiration {
            why = format!(
                "RRSIG (key tag {tag}) valid {} to {}, outside the validation time {}",
                crate::rdata::rrsig_time(*inception),
                crate::rdata::rrsig_time(*expiration),
                crate::rdata::rrsig_time(now)
            );
            continue;
        }
        let owner = if usize::from(*labels) < first.name.len() {
            first.name.suffix(usize::from(*labels)).child("*")
        } else {
            first.name.clone()
        };
        let canonical: Vec<Record> = rrset
            .iter()
            .map(|r| Record::new(owner.clone(), *original_ttl, r.rdata.clone()))
            .collect();
        let data = signed_data(&sig.rdata.rrsig_header(), &canonical, *original_ttl);
        let mut found = false;
        for k in keys {
            let Rdata::Dnskey {
                flags,
                protocol,
                algorithm: kalg,
                key,
            } = k
            else {
                continue;
            };
            if kalg != algorithm
                || *protocol != 3
                || flags & 0x0100 == 0
                || key_tag(&k.to_wire()) != *tag
            {
                continue;
            }
            found = true;
            if verify_signature(*algorithm, key, &data, signature) {
                return Ok(());
            }
            why = format!("the RRSIG by key tag {tag} does not verify");
        }
        if !found {
            why = format!("no DNSKEY of {zone} has key tag {tag} and algorithm {algorithm}");
        }
    }
    Err(why)
}

fn verify_signature(algorithm: u8, key: &[u8], data: &[u8], sig: &[u8]) -> bool {
    match algorithm {
        8 | 10 => {
            let Some((&first, rest)) = key.split_first() else {
                return false;
            };
            let (elen, rest) = if first == 0 {
                if rest.len() < 2 {
                    return false;
                }
                (
                    usize::from(u16::from_be_bytes([rest[0], rest[1]])),
                    &rest[2..],
                )
            } else {
                (usize::from(first), rest)
            };
            if rest.len() <= elen {
                return false;
            }
            let (e, n) = rest.split_at(elen);
            let params = if algorithm == 8 {
                &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
            } else {
                &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY
            };
            signature::RsaPublicKeyComponents { n, e }
                .verify(params, data, sig)
                .is_ok()
        }
        13 | 14 => {
            let mut point = vec![4];
            point.extend_from_slice(key);
            let alg = if algorithm == 13 {
                &signature::ECDSA_P256_SHA256_FIXED
            } else {
                &signature::ECDSA_P384_SHA384_FIXED
            };
            UnparsedPublicKey::new(alg, point).verify(data, sig).is_ok()
        }
        15 => UnparsedPublicKey::new(&signature::ED25519, key)
            .verify(data, sig)
            .is_ok(),
        _ => false,
    }
}

/// How a denial was proven.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Proven {
    /// Securely.
    Secure,
    /// Only through an NSEC3 Opt-Out span: insecure (RFC 5155 section 9.2; D-02).
    OptOut,
}

/// The validated NSEC or NSEC3 records of a response.
pub(crate) enum Denial {
    Nsec(Vec<(Name, Name, Vec<u16>)>),
    Nsec3 {
        zone: Name,
        salt: Vec<u8>,
        iterations: u16,
        records: Vec<Nsec3Entry>,
    },
}

/// One validated NSEC3 record.
pub(crate) struct Nsec3Entry {
    hash: Vec<u8>,
    next: Vec<u8>,
    opt_out: bool,
    types: Vec<u16>,
}

impl Denial {
    /// Collects and verifies the denial records in the authority section (signed by `zone`).
    pub(crate) fn collect(
        msg: &Message,
        zone: &Name,
        keys: &[Rdata],
        now: u32,
    ) -> Result<Self, String> {
        let mut nsec = Vec::new();
        let mut nsec3 = Vec::new();
        let mut params: Option<(Vec<u8>, u16)> = None;
        for r in &msg.authority {
            match &r.rdata {
                Rdata::Nsec { next, types } => {
                    verify_rrset(
                        std::slice::from_ref(r),
                        &sigs_for(&msg.authority, &r.name, rtype::NSEC),
                        zone,
                        keys,
                        now,
                    )
                    .map_err(|e| format!("NSEC {}: {e}", r.name))?;
                    nsec.push((r.name.clone(), next.clone(), types.clone()));
                }
                Rdata::Nsec3 {
                    hash_algorithm,
                    flags,
                    iterations,
                    salt,
                    next_hashed,
                    types,
                } => {
                    if *hash_algorithm != 1 || r.name.parent() != *zone {
                        continue;
                    }
                    verify_rrset(
                        std::slice::from_ref(r),
                        &sigs_for(&msg.authority, &r.name, rtype::NSEC3),
                        zone,
                        keys,
                        now,
                    )
                    .map_err(|e| format!("NSEC3 {}: {e}", r.name))?;
                    let Some(label) = r.name.labels().first() else {
                        continue;
                    };
                    let Ok(hash) = BASE32HEX_NOPAD.decode(&label.to_ascii_uppercase()) else {
                        continue;
                    };
                    params.get_or_insert((salt.clone(), *iterations));
                    nsec3.push(Nsec3Entry {
                        hash,
                        next: next_hashed.clone(),
                        opt_out: flags & 1 == 1,
                        types: types.clone(),
                    });
                }
                _ => {}
            }
        }
        if !nsec.is_empty() {
            return Ok(Self::Nsec(nsec));
        }
        match params {
            Some((salt, iterations)) => Ok(Self::Nsec3 {
                zone: zone.clone(),
                salt,
                iterations,
                records: nsec3,
            }),
            None => Err("no NSEC or NSEC3 proof in a signed zone".into()),
        }
    }

    fn hash(&self, name: &Name) -> Vec<u8> {
        match self {
            Self::Nsec3 {
                salt, iterations, ..
            } => nsec3_hash(name, salt, *iterations),
            Self::Nsec(_) => Vec::new(),
        }
    }

    /// The type bitmap at exactly `name`, if a denial record matches it.
    pub(crate) fn types_at(&self, name: &Name) -> Result<Option<Vec<u16>>, String> {
        match self {
            Self::Nsec(list) => Ok(list
                .iter()
                .find(|(o, _, _)| o == name)
                .map(|(_, _, t)| t.clone())),
            Self::Nsec3 {
                iterations,
                records,
                ..
            } => {
                if *iterations > MAX_NSEC3_ITERATIONS {
                    return Err(format!("NSEC3 with {iterations} iterations"));
                }
                let h = self.hash(name);
                Ok(records
                    .iter()
                    .find(|e| e.hash == h)
                    .map(|e| e.types.clone()))
            }
        }
    }

    fn nsec_covers(list: &[(Name, Name, Vec<u16>)], name: &Name) -> Option<(Name, Name)> {
        list.iter()
            .find(|(o, n, _)| {
                if o < n {
                    o < name && name < n
                } else {
                    // The last NSEC of the zone wraps around to the apex.
                    o < name || name < n
                }
            })
            .map(|(o, n, _)| (o.clone(), n.clone()))
    }

    /// The NSEC3 covering `name`'s hash: its opt-out flag.
    fn nsec3_cover(&self, name: &Name) -> Option<bool> {
        let Self::Nsec3 { records, .. } = self else {
            return None;
        };
        let h = self.hash(name);
        records
            .iter()
            .find(|e| {
                if e.hash < e.next {
                    e.hash < h && h < e.next
                } else {
                    e.hash < h || h < e.next
                }
            })
            .map(|e| e.opt_out)
    }

    /// NXDOMAIN for `qname` (RFC 4035 section 5.4; RFC 5155 section 8.4).
    pub(crate) fn nxdomain(&self, qname: &Name) -> Result<Proven, String> {
        match self {
            Self::Nsec(list) => {
                let (o, n) = Self::nsec_covers(list, qname)
                    .ok_or_else(|| format!("no NSEC covers {qname}"))?;
                let ce = longest(common_ancestor(qname, &o), common_ancestor(qname, &n));
                let wildcard = ce.child("*");
                if Self::nsec_covers(list, &wildcard).is_none() {
                    return Err(format!("no NSEC proves that {wildcard} does not exist"));
                }
                Ok(Proven::Secure)
            }
            Self::Nsec3 { .. } => {
                let (ce, opt_out) = self.closest_encloser(qname)?;
                let wildcard = ce.child("*");
                if self.nsec3_cover(&wildcard).is_none() {
                    return Err(format!("no NSEC3 proves that {wildcard} does not exist"));
                }
                Ok(if opt_out {
                    Proven::OptOut
                } else {
                    Proven::Secure
                })
            }
        }
    }

    /// RFC 5155 section 8.3: the closest encloser (matched) and the next closer name (covered);
    /// returns the encloser and whether the cover has Opt-Out.
    fn closest_encloser(&self, qname: &Name) -> Result<(Name, bool), String> {
        let Self::Nsec3 {
            zone, iterations, ..
        } = self
        else {
            return Err("not NSEC3".into());
        };
        if *iterations > MAX_NSEC3_ITERATIONS {
            return Err(format!("NSEC3 with {iterations} iterations"));
        }
        let mut ce = qname.parent();
        while ce.len() >= zone.len() {
            if self.types_at(&ce)?.is_some() {
                let next_closer = qname.suffix(ce.len() + 1);
                return match self.nsec3_cover(&next_closer) {
                    Some(opt_out) => Ok((ce, opt_out)),
                    None => Err(format!(
                        "no NSEC3 covers the next closer name {next_closer}"
                    )),
                };
            }
            if ce.len() == zone.len() {
                break;
            }
            ce = ce.parent();
        }
        Err(format!("no NSEC3 matches an encloser of {qname}"))
    }

    /// NODATA when no record matches `qname` itself: an empty non-terminal (NSEC), an Opt-Out
    /// span (NSEC3, only for DS), or a wildcard NODATA.
    pub(crate) fn nodata_without_match(&self, qname: &Name) -> Result<Proven, String> {
        match self {
            Self::Nsec(list) => {
                // An empty non-terminal: the covering NSEC's next name lies below qname.
                if let Some((_, n)) = Self::nsec_covers(list, qname)
                    && n.is_at_or_below(qname)
                {
                    return Ok(Proven::Secure);
                }
                Err(format!("no NSEC proves that {qname} has no data"))
            }
            Self::Nsec3 { .. } => {
                let (_, opt_out) = self.closest_encloser(qname)?;
                if opt_out {
                    Ok(Proven::OptOut)
                } else {
                    Err(format!("no NSEC3 matches {qname}"))
                }
            }
        }
    }

    /// Wildcard NODATA (RFC 4035 section 3.1.3.4; RFC 5155 section 8.7): qname does not exist,
    /// the wildcard at its closest encloser exists without the type.
    pub(crate) fn wildcard_nodata(&self, qname: &Name, qtype: u16) -> Result<Proven, String> {
        let lacks = |types: &[u16]| !types.contains(&qtype) && !types.contains(&rtype::CNAME);
        match self {
            Self::Nsec(list) => {
                let (o, n) = Self::nsec_covers(list, qname)
                    .ok_or_else(|| format!("no NSEC covers {qname}"))?;
                let ce = longest(common_ancestor(qname, &o), common_ancestor(qname, &n));
                match self.types_at(&ce.child("*"))? {
                    Some(t) if lacks(&t) => Ok(Proven::Secure),
                    _ => Err(format!("no NSEC proves that {qname} has no {qtype} data")),
                }
            }
            Self::Nsec3 { .. } => {
                let (ce, opt_out) = self.closest_encloser(qname)?;
                match self.types_at(&ce.child("*"))? {
                    Some(t) if lacks(&t) => Ok(if opt_out {
                        Proven::OptOut
                    } else {
                        Proven::Secure
                    }),
                    _ => Err(format!("no NSEC3 proves that {qname} has no {qtype} data")),
                }
            }
        }
    }

    /// The proof that a wildcard expansion was legitimate: `qname` itself does not exist
    /// (RFC 4035 section 5.3.4; RFC 5155 section 8.8). `labels` is the RRSIG labels count.
    pub(crate) fn wildcard_answer(&self, qname: &Name, labels: usize) -> Result<(), String> {
        match self {
            Self::Nsec(list) => Self::nsec_covers(list, qname)
                .map(|_| ())
                .ok_or_else(|| format!("no NSEC proves that {qname} does not exist")),
            Self::Nsec3 { .. } => {
                let next_closer = qname.suffix((labels + 1).min(qname.len()));
                self.nsec3_cover(&next_closer)
                    .map(|_| ())
                    .ok_or_else(|| format!("no NSEC3 covers {next_closer}"))
            }
        }
    }
}

fn common_ancestor(a: &Name, b: &Name) -> Name {
    let mut n = 0;
    let (la, lb) = (a.labels(), b.labels());
    while n < la.len() && n < lb.len() && la[la.len() - 1 - n] == lb[lb.len() - 1 - n] {
        n += 1;
    }
    a.suffix(n)
}

fn longest(a: Name, b: Name) -> Name {
    if a.len() >= b.len() { a } else { b }
}
