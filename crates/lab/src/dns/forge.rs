//! A man in the middle for DNS: honest answers from a [`World`], rewritten on their way to a
//! validating stub, one knob per attack that home-grown validators have fallen for (issue 12,
//! F1 to F6) plus the classic ones (stripped and replayed signatures, a swapped DS). Every
//! forged answer is built from records the world's zones genuinely signed, moved, mixed or
//! replayed; a validator must call each of them bogus.
//!
//! The references: RFC 4035 section 5 (validating responses), RFC 6840 section 4.1 (NSEC and
//! NSEC3 from a delegation point above the name prove nothing below it), RFC 5155 sections 8.3
//! and 8.4 (one NSEC3 chain per proof), RFC 4592 and RFC 7129 (wildcard expansions need a
//! proof that the name itself does not exist; an NSEC RRset that is itself wildcard-expanded
//! proves nothing), CVE-2023-50387 (KeyTrap).

use std::sync::Arc;

use super::keys::{key_tag, nsec3_hash};
use super::message::{Response, rcode};
use super::name::Name;
use super::rdata::{Rdata, Record, rtype};
use super::resolve::{self, Mode, Outcome};
use super::world::{World, Zone};

/// One attack. Each applies to the questions it names and leaves every other answer honest.
#[derive(Clone, Debug)]
pub enum Forgery {
    /// F1: the question `target`/`qtype` gets NXDOMAIN (or NODATA with `nodata`) "proven" by
    /// the genuinely signed SOA and NSEC or NSEC3 records of the zone at `from`, a zone above
    /// the one that holds `target` (its parent, or the root).
    ReplayDenial {
        /// The name denied.
        target: Name,
        /// The type denied.
        qtype: u16,
        /// The apex of the zone whose records are replayed.
        from: Name,
        /// NODATA instead of NXDOMAIN.
        nodata: bool,
    },
    /// F2: a DS question for `child` gets an unsigned CNAME (as if no zone cut were there).
    CnameForDs {
        /// The delegated zone.
        child: Name,
    },
    /// F3: NODATA for `target`/`qtype` (which exists) "proven" by the wildcard `wildcard`'s own
    /// signed NSEC record, moved to `target`: its RRSIG's label count makes it look like a
    /// wildcard expansion that still verifies.
    MovedWildcardNsec {
        /// The name whose data is denied.
        target: Name,
        /// The type denied.
        qtype: u16,
        /// The wildcard owner (`*.zone`).
        wildcard: Name,
    },
    /// F4: `target`/`qtype` is answered with the `wildcard`'s RRset of that type (as if
    /// expanded), with its genuine RRSIG but without the proof that `target` does not exist,
    /// behind a junk RRSIG that claims the full label count.
    JunkFirstRrsig {
        /// The name answered.
        target: Name,
        /// The type answered.
        qtype: u16,
        /// The wildcard owner whose data is substituted.
        wildcard: Name,
    },
    /// F5 (KeyTrap, CVE-2023-50387): the DNSKEY RRset of `zone` gets `keys` extra RSA keys that
    /// share the key tags of the real keys, and every RRset signed by `zone` comes with `sigs`
    /// junk RRSIGs of those tags instead of its real signatures.
    KeyTrap {
        /// The apex of an RSA-signed zone.
        zone: Name,
        /// Extra keys with colliding tags.
        keys: usize,
        /// Junk signatures per RRset.
        sigs: usize,
    },
    /// F6: NXDOMAIN for `target` proven with NSEC3 records of two chains: the closest
    /// encloser's match from the zone's chain, the covering records from `other`'s chain (the
    /// same zone signed with the same keys but another salt, without `target`). Neither chain
    /// alone proves anything.
    MixedNsec3Chains {
        /// The name denied.
        target: Name,
        /// The type asked.
        qtype: u16,
        /// The world with the other chain.
        other: Arc<World>,
    },
    /// Every RRSIG is removed from answers to questions at or below `below`.
    StripRrsigs {
        /// The subtree.
        below: Name,
    },
    /// The question `target`/`qtype` is answered from `from` instead, with its signatures
    /// (a world signed long ago: genuine signatures, expired).
    Replay {
        /// The name.
        target: Name,
        /// The type.
        qtype: u16,
        /// The world the answer is taken from.
        from: Arc<World>,
    },
    /// Every answer claims to be validated (AD set), bogus ones included: a liar for clients
    /// that must not trust the AD bit (D-04).
    AdOnEverything,
    /// The question `target`/`qtype` gets `answer` (NOERROR) in place of the honest answer:
    /// an attacker's NS, A/AAAA or DNSKEY RRset, with whatever signatures the attacker could
    /// make (issue 26: the operator side's forgeries).
    Substitute {
        /// The name.
        target: Name,
        /// The type.
        qtype: u16,
        /// The records sent.
        answer: Vec<Record>,
    },
    /// A DS question for `child` gets the DS RRset (and RRSIG) of `with`, renamed.
    SwapDs {
        /// The delegated zone attacked.
        child: Name,
        /// The sibling whose DS is used.
        with: Name,
    },
}

/// Rewrites `honest`, the answer to `qname`/`qtype`, as the first matching forgery says.
pub fn rewrite(
    world: &World,
    forgeries: &[Forgery],
    qname: &Name,
    qtype: u16,
    honest: Response,
) -> Response {
    let mut resp = honest;
    for f in forgeries {
        resp = apply(world, f, qname, qtype, resp);
    }
    resp
}

fn apply(world: &World, f: &Forgery, qname: &Name, qtype: u16, resp: Response) -> Response {
    match f {
        Forgery::ReplayDenial {
            target,
            qtype: t,
            from,
            nodata,
        } if qname == target && qtype == *t => {
            let Some(zone) = zone_at(world, from) else {
                return resp;
            };
            let mut authority = rrset(zone, &zone.apex, rtype::SOA);
            if zone.nsec3.is_empty() {
                authority.extend(covering_nsec(zone, target));
            } else {
                for (_, records) in &zone.nsec3 {
                    authority.extend(records.iter().cloned());
                }
            }
            denial(
                if *nodata {
                    rcode::NOERROR
                } else {
                    rcode::NXDOMAIN
                },
                authority,
            )
        }
        Forgery::Substitute {
            target,
            qtype: t,
            answer,
        } if qname == target && qtype == *t => Response {
            answer: answer.clone(),
            ..Response::default()
        },
        Forgery::CnameForDs { child } if qname == child && qtype == rtype::DS => Response {
            answer: vec![Record::new(
                child.clone(),
                300,
                Rdata::Cname(Name::parse("elsewhere.invalid.")),
            )],
            ..Response::default()
        },
        Forgery::MovedWildcardNsec {
            target,
            qtype: t,
            wildcard,
        } if qname == target && qtype == *t => {
            let Some(zone) = zone_holding(world, wildcard) else {
                return resp;
            };
            let mut authority = rrset(zone, &zone.apex, rtype::SOA);
            authority.extend(
                rrset(zone, wildcard, rtype::NSEC)
                    .into_iter()
                    .map(|r| Record::new(target.clone(), r.ttl, r.rdata)),
            );
            denial(rcode::NOERROR, authority)
        }
        Forgery::JunkFirstRrsig {
            target,
            qtype: t,
            wildcard,
        } if qname == target && qtype == *t => {
            let Some(zone) = zone_holding(world, wildcard) else {
                return resp;
            };
            let genuine: Vec<Record> = rrset(zone, wildcard, *t)
                .into_iter()
                .map(|r| Record::new(target.clone(), r.ttl, r.rdata))
                .collect();
            let mut answer: Vec<Record> = genuine
                .iter()
                .filter_map(|r| match &r.rdata {
                    Rdata::Rrsig {
                        type_covered,
                        algorithm,
                        original_ttl,
                        expiration,
                        inception,
                        key_tag,
                        signer,
                        signature,
                        ..
                    } => Some(Record::new(
                        target.clone(),
                        r.ttl,
                        Rdata::Rrsig {
                            type_covered: *type_covered,
                            algorithm: *algorithm,
                            labels: target.rrsig_labels(),
                            original_ttl: *original_ttl,
                            expiration: *expiration,
                            inception: *inception,
                            key_tag: *key_tag,
                            signer: signer.clone(),
                            signature: signature.iter().map(|b| b ^ 0x5a).collect(),
                        },
                    )),
                    _ => None,
                })
                .collect();
            answer.extend(genuine);
            Response {
                answer,
                ..Response::default()
            }
        }
        Forgery::KeyTrap { zone, keys, sigs } => keytrap(world, zone, *keys, *sigs, qtype, resp),
        Forgery::MixedNsec3Chains {
            target,
            qtype: t,
            other,
        } if qname == target && qtype == *t => mixed_chains(world, other, target).unwrap_or(resp),
        Forgery::StripRrsigs { below } if qname.is_at_or_below(below) => {
            let strip = |v: Vec<Record>| -> Vec<Record> {
                v.into_iter()
                    .filter(|r| r.rtype() != rtype::RRSIG)
                    .collect()
            };
            Response {
                answer: strip(resp.answer),
                authority: strip(resp.authority),
                additional: strip(resp.additional),
                ..resp
            }
        }
        Forgery::Replay {
            target,
            qtype: t,
            from,
        } if qname == target && qtype == *t => {
            match resolve::answer(from, Mode::Recursive, qname, qtype, true, true) {
                Outcome::Reply(r) => r,
                Outcome::Drop => resp,
            }
        }
        Forgery::AdOnEverything => Response { ad: true, ..resp },
        Forgery::SwapDs { child, with } if qname == child && qtype == rtype::DS => {
            let Some(parent) = zone_holding(world, &child.parent()) else {
                return resp;
            };
            Response {
                answer: rrset(parent, with, rtype::DS)
                    .into_iter()
                    .map(|r| Record::new(child.clone(), r.ttl, r.rdata))
                    .collect(),
                ..Response::default()
            }
        }
        _ => resp,
    }
}

fn denial(code: u16, authority: Vec<Record>) -> Response {
    Response {
        rcode: code,
        authority,
        ..Response::default()
    }
}

/// The first server's copy of the zone whose apex is `apex`.
fn zone_at<'w>(world: &'w World, apex: &Name) -> Option<&'w Zone> {
    world
        .zones()
        .iter()
        .find(|z| z.apex == *apex)
        .and_then(|z| z.servers.first())
        .map(|z| &**z)
}

/// The first server's copy of the zone that holds `name` (the child side of a cut).
fn zone_holding<'w>(world: &'w World, name: &Name) -> Option<&'w Zone> {
    world
        .zone_for(name, false)
        .and_then(|z| z.servers.first())
        .map(|z| &**z)
}

/// An RRset of `zone` with its RRSIGs (empty if absent).
fn rrset(zone: &Zone, owner: &Name, t: u16) -> Vec<Record> {
    zone.nodes
        .get(owner)
        .and_then(|n| n.rrset(t))
        .unwrap_or_default()
}

/// The NSEC RRset (with RRSIGs) of `zone` whose owner is the last one at or before `name` in
/// canonical order: the record that "covers" it.
fn covering_nsec(zone: &Zone, name: &Name) -> Vec<Record> {
    zone.nodes
        .range(..=name.clone())
        .rev()
        .find_map(|(_, node)| node.rrset(rtype::NSEC))
        .unwrap_or_default()
}

/// The NSEC3 RRset of `zone` matching `hash`, or covering it when `cover`.
fn nsec3_for(zone: &Zone, hash: &[u8], cover: bool) -> Option<Vec<Record>> {
    if cover {
        zone.nsec3
            .iter()
            .rev()
            .find(|(h, _)| h.as_slice() < hash)
            .or_else(|| zone.nsec3.last())
            .map(|(_, r)| r.clone())
    } else {
        zone.nsec3
            .iter()
            .find(|(h, _)| h.as_slice() == hash)
            .map(|(_, r)| r.clone())
    }
}

fn params(zone: &Zone) -> Option<(Vec<u8>, u16)> {
    zone.nsec3_params
        .as_ref()
        .map(|p| (p.salt.clone(), p.iterations))
}

fn mixed_chains(world: &World, other: &World, target: &Name) -> Option<Response> {
    let ours = zone_holding(world, target)?;
    let theirs = zone_holding(other, target)?;
    let (salt_a, it_a) = params(ours)?;
    let (salt_b, it_b) = params(theirs)?;
    // The closest encloser as the other world sees it: the nearest existing ancestor.
    let mut encloser = target.parent();
    let mut next_closer = target.clone();
    while !theirs.exists(&encloser) && encloser.is_at_or_below(&theirs.apex) {
        next_closer = encloser.clone();
        encloser = encloser.parent();
    }
    let mut authority = rrset(ours, &ours.apex, rtype::SOA);
    authority.extend(nsec3_for(
        ours,
        &nsec3_hash(&encloser, &salt_a, it_a),
        false,
    )?);
    authority.extend(nsec3_for(
        theirs,
        &nsec3_hash(&next_closer, &salt_b, it_b),
        true,
    )?);
    authority.extend(nsec3_for(
        theirs,
        &nsec3_hash(&encloser.child("*"), &salt_b, it_b),
        true,
    )?);
    Some(denial(rcode::NXDOMAIN, authority))
}

/// A fake RSA/SHA-256 DNSKEY (a random 2048-bit modulus, from `seed`) with the given `flags`
/// whose key tag is `tag`.
pub fn colliding_key(tag: u16, flags: u16, seed: u64) -> Rdata {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as u8
    };
    // Exponent 65537, then the modulus; the last two octets are set below.
    let mut key = vec![3, 1, 0, 1];
    key.extend((0..256).map(|_| next()));
    key[4] |= 0x80;
    let n = key.len();
    key[n - 2] = 0;
    key[n - 1] = 0;
    let rdata = |key: &[u8]| Rdata::Dnskey {
        flags,
        protocol: 3,
        algorithm: 8,
        key: key.to_vec(),
    };
    // RFC 4034 appendix B: the tag is a 16-bit sum with end-around carry, so it moves by `x`
    // (modulo 65535) when the last two octets, at an even offset, become (hi, lo) = x. The
    // candidate is checked with the real key-tag function; a scan covers the carry's edges.
    let base = i64::from(key_tag(&rdata(&key).to_wire()));
    let want = (i64::from(tag) - base).rem_euclid(65_535);
    let candidates = [want, want + 65_535].into_iter().chain(0..=0xffff);
    for x in candidates.filter(|x| *x <= 0xffff) {
        key[n - 2] = (x >> 8) as u8;
        key[n - 1] = (x & 0xff) as u8;
        if key_tag(&rdata(&key).to_wire()) == tag {
            break;
        }
    }
    rdata(&key)
}

fn keytrap(
    world: &World,
    apex: &Name,
    keys: usize,
    sigs: usize,
    qtype: u16,
    resp: Response,
) -> Response {
    let Some(zone) = zone_at(world, apex) else {
        return resp;
    };
    let real: Vec<(u16, u16)> = zone
        .nodes
        .get(apex)
        .and_then(|n| n.rrsets.get(&rtype::DNSKEY))
        .map(|v| {
            v.iter()
                .filter_map(|r| match &r.rdata {
                    Rdata::Dnskey { flags, .. } => {
                        Some((mxdane_dns::dnssec::key_tag(&r.rdata.to_wire()), *flags))
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if real.is_empty() {
        return resp;
    }
    let junk = |r: &Record| -> Vec<Record> {
        let Rdata::Rrsig {
            type_covered,
            labels,
            original_ttl,
            expiration,
            inception,
            signer,
            ..
        } = &r.rdata
        else {
            return vec![r.clone()];
        };
        if signer != apex {
            return vec![r.clone()];
        }
        (0..sigs)
            .map(|i| {
                let (tag, _) = real[i % real.len()];
                Record::new(
                    r.name.clone(),
                    r.ttl,
                    Rdata::Rrsig {
                        type_covered: *type_covered,
                        algorithm: 8,
                        labels: *labels,
                        original_ttl: *original_ttl,
                        expiration: *expiration,
                        inception: *inception,
                        key_tag: tag,
                        signer: signer.clone(),
                        signature: (0..256u32)
                            .map(|j| (j.wrapping_mul(31) ^ i as u32) as u8)
                            .collect(),
                    },
                )
            })
            .collect()
    };
    let swap = |v: Vec<Record>| -> Vec<Record> { v.iter().flat_map(junk).collect() };
    let mut answer = swap(resp.answer);
    if qtype == rtype::DNSKEY && answer.iter().any(|r| r.name == *apex) {
        let ttl = answer.first().map_or(3600, |r| r.ttl);
        for i in 0..keys {
            let (tag, flags) = real[i % real.len()];
            answer.push(Record::new(
                apex.clone(),
                ttl,
                colliding_key(tag, flags, i as u64 + 1),
            ));
        }
    }
    Response {
        answer,
        authority: swap(resp.authority),
        ..resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colliding_keys_hit_the_tag() {
        for (tag, seed) in [(0u16, 1u64), (12345, 2), (65535, 3), (20326, 4)] {
            let k = colliding_key(tag, 256, seed);
            assert_eq!(key_tag(&k.to_wire()), tag);
        }
        assert_ne!(colliding_key(7, 256, 1), colliding_key(7, 256, 2));
    }
}
