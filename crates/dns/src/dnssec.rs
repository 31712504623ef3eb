//! DNSSEC building blocks shared by the validator and the lab's signer: key tags
//! (RFC 4034 appendix B), DS digests (RFC 4509, RFC 6605), NSEC3 hashes (RFC 5155 section 5)
//! and the data an RRSIG signs (RFC 4034 section 3.1.8.1).

use aws_lc_rs::digest;

use crate::name::Name;
use crate::rdata::{Rdata, Record};

/// The key tag of DNSKEY RDATA in wire form (RFC 4034 appendix B).
pub fn key_tag(rdata: &[u8]) -> u16 {
    // Appendix B.1: RSA/MD5 (algorithm 1) takes bits from the modulus instead.
    if rdata.get(3) == Some(&1) && rdata.len() >= 7 {
        let n = rdata.len();
        return u16::from_be_bytes([rdata[n - 3], rdata[n - 2]]);
    }
    let mut ac: u32 = 0;
    for (i, b) in rdata.iter().enumerate() {
        ac += if i & 1 == 1 {
            u32::from(*b)
        } else {
            u32::from(*b) << 8
        };
    }
    ac += (ac >> 16) & 0xffff;
    u16::try_from(ac & 0xffff).unwrap_or(0)
}

/// A DS record's data (SHA-256, digest type 2) for `dnskey` at `owner` (RFC 4509); `None`
/// unless `dnskey` is DNSKEY data.
pub fn ds(owner: &Name, dnskey: &Rdata) -> Option<Rdata> {
    ds_with(owner, dnskey, 2)
}

/// A DS record's data with digest type 1 (SHA-1), 2 (SHA-256) or 4 (SHA-384); `None` for other
/// digest types or non-DNSKEY data.
pub fn ds_with(owner: &Name, dnskey: &Rdata, digest_type: u8) -> Option<Rdata> {
    let Rdata::Dnskey { algorithm, .. } = dnskey else {
        return None;
    };
    let alg = match digest_type {
        1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        2 => &digest::SHA256,
        4 => &digest::SHA384,
        _ => return None,
    };
    let wire = dnskey.to_wire();
    let mut data = owner.to_wire();
    data.extend_from_slice(&wire);
    Some(Rdata::Ds {
        key_tag: key_tag(&wire),
        algorithm: *algorithm,
        digest_type,
        digest: digest::digest(alg, &data).as_ref().to_vec(),
    })
}

/// The NSEC3 hash of `name` (RFC 5155 section 5, SHA-1).
pub fn nsec3_hash(name: &Name, salt: &[u8], iterations: u16) -> Vec<u8> {
    let hash = |data: &[u8]| {
        let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
        ctx.update(data);
        ctx.update(salt);
        ctx.finish().as_ref().to_vec()
    };
    let mut h = hash(&name.to_wire());
    for _ in 0..iterations {
        h = hash(&h);
    }
    h
}

/// The data an RRSIG over `rrset` signs (RFC 4034 section 3.1.8.1): the RRSIG RDATA without
/// the signature, then the RRs in canonical order with the original TTL.
pub fn signed_data(rrsig_header: &[u8], rrset: &[Record], original_ttl: u32) -> Vec<u8> {
    let mut rdatas: Vec<Vec<u8>> = rrset.iter().map(|r| r.rdata.to_wire()).collect();
    rdatas.sort();
    rdatas.dedup();
    let mut out = rrsig_header.to_vec();
    let Some(first) = rrset.first() else {
        return out;
    };
    for rdata in rdatas {
        first.name.write_wire(&mut out);
        out.extend_from_slice(&first.rtype().to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&original_ttl.to_be_bytes());
        out.extend_from_slice(&u16::try_from(rdata.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    out
}
