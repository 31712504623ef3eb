//! Answering queries from a world, as a recursive resolver would answer a stub that validates by
//! itself (RD+CD: every record with its RRSIGs, denial proofs from the zone that holds the
//! denial, DS from the parent side of a cut, CNAME and DNAME chains followed across zones), or
//! as one authoritative server of one zone would (referrals at cuts).
//!
//! RFC 4035 section 3.1 says what a signed answer carries; RFC 5155 section 7.2 the NSEC3
//! proofs; RFC 6672 DNAME synthesis.

use data_encoding::BASE32HEX_NOPAD;

use super::keys;
use super::message::{Response, rcode};
use super::name::Name;
use super::rdata::{Rdata, Record, rtype};
use super::world::{Security, ServerFault, World, Zone, ZoneInstance};

/// What one zone says about one name and type.
enum Local {
    /// The RRset (with RRSIGs), plus the denial records of a wildcard expansion.
    Answer(Vec<Record>, Vec<Record>),
    /// A CNAME (with RRSIGs, and the wildcard denial if synthesized) to follow.
    Cname(Vec<Record>, Name, Vec<Record>),
    /// A DNAME (with RRSIGs) and the synthesized CNAME to follow.
    Dname(Vec<Record>, Name),
    /// The name exists, the type does not.
    NoData(Vec<Record>),
    /// The name does not exist.
    NxDomain(Vec<Record>),
    /// The name is at or below a cut: NS, DS or its denial, glue.
    Referral(Vec<Record>, Vec<Record>),
}

/// How the answer was reached, for [`answer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The whole world, as a recursive resolver for validating stubs.
    Recursive,
    /// The whole world, as a validating recursive resolver: AD on secure answers, SERVFAIL for
    /// bogus ones (unless the query set CD). The verdict comes from the world description (the
    /// ground truth), not from validating signatures.
    Validating,
    /// One zone's authoritative server `server` (0-based).
    Authoritative {
        /// Index of the zone in [`World::zones`].
        zone: usize,
        /// Which of its servers.
        server: usize,
    },
}

/// The outcome of a query: a response, or silence (a server that times out).
pub enum Outcome {
    /// Send this.
    Reply(Response),
    /// Say nothing.
    Drop,
}

/// Answers `qname`/`qtype` from `world`.
pub fn answer(
    world: &World,
    mode: Mode,
    qname: &Name,
    qtype: u16,
    dnssec_ok: bool,
    checking_disabled: bool,
) -> Outcome {
    let mut resp = Response::default();
    let mut verdict = Security::Secure;
    match mode {
        Mode::Authoritative { zone, server } => {
            let Some(instance) = world.zones().get(zone) else {
                resp.rcode = rcode::REFUSED;
                return Outcome::Reply(resp);
            };
            match instance.faults.get(server).copied().flatten() {
                Some(ServerFault::Timeout(t)) if t == qtype => return Outcome::Drop,
                Some(ServerFault::Servfail(t)) if t == qtype => {
                    resp.rcode = rcode::SERVFAIL;
                    return Outcome::Reply(resp);
                }
                _ => {}
            }
            let Some(z) = instance.servers.get(server) else {
                resp.rcode = rcode::REFUSED;
                return Outcome::Reply(resp);
            };
            if !qname.is_at_or_below(&z.apex) {
                resp.rcode = rcode::REFUSED;
                return Outcome::Reply(resp);
            }
            resp.aa = true;
            match lookup(z, qname, qtype) {
                Local::Answer(rrs, denial) => {
                    resp.answer = rrs;
                    resp.authority = denial;
                }
                Local::Cname(rrs, _, denial) => {
                    resp.answer = rrs;
                    resp.authority = denial;
                }
                Local::Dname(rrs, _) => resp.answer = rrs,
                Local::NoData(auth) => resp.authority = auth,
                Local::NxDomain(auth) => {
                    resp.rcode = rcode::NXDOMAIN;
                    resp.authority = auth;
                }
                Local::Referral(auth, glue) => {
                    resp.aa = false;
                    resp.authority = auth;
                    resp.additional = glue;
                }
            }
        }
        Mode::Recursive | Mode::Validating => {
            let mut name = qname.clone();
            for _hop in 0..16 {
                let parent_side = qtype == rtype::DS;
                let Some(instance) = world.zone_for(&name, parent_side) else {
                    break;
                };
                // A recursive resolver asks every server; it fails only if all of them do.
                let healthy = instance.faults.iter().position(|f| match f {
                    Some(ServerFault::Servfail(t) | ServerFault::Timeout(t)) => *t != qtype,
                    None => true,
                });
                let Some(server) = healthy else {
                    return match instance.faults[0] {
                        Some(ServerFault::Timeout(_)) => Outcome::Drop,
                        _ => {
                            resp.rcode = rcode::SERVFAIL;
                            resp.answer.clear();
                            Outcome::Reply(resp)
                        }
                    };
                };
                let z = &instance.servers[server];
                let local = lookup(z, &name, qtype);
                verdict = worse(verdict, hop_security(instance, z, &name, qtype, &local));
                match local {
                    Local::Answer(rrs, denial) => {
                        resp.answer.extend(rrs);
                        resp.authority.extend(denial);
                        break;
                    }
                    Local::Cname(rrs, target, denial) => {
                        resp.answer.extend(rrs);
                        resp.authority.extend(denial);
                        if qtype == rtype::CNAME {
                            break;
                        }
                        name = target;
                    }
                    Local::Dname(rrs, target) => {
                        resp.answer.extend(rrs);
                        name = target;
                    }
                    Local::NoData(auth) => {
                        resp.authority.extend(auth);
                        break;
                    }
                    Local::NxDomain(auth) => {
                        resp.rcode = rcode::NXDOMAIN;
                        resp.authority.extend(auth);
                        break;
                    }
                    // Every delegated zone is part of the world, so this only happens for
                    // names below a cut whose child zone is missing: nothing more to say.
                    Local::Referral(..) => {
                        resp.rcode = rcode::SERVFAIL;
                        break;
                    }
                }
            }
        }
    }
    if mode == Mode::Validating {
        match verdict {
            _ if resp.rcode == rcode::SERVFAIL => {}
            Security::Secure => resp.ad = true,
            Security::Insecure => {}
            Security::Bogus if checking_disabled => {}
            Security::Bogus => {
                resp = Response {
                    rcode: rcode::SERVFAIL,
                    ..Response::default()
                };
            }
        }
    }
    if !dnssec_ok {
        strip_dnssec(&mut resp, qtype);
    }
    Outcome::Reply(resp)
}

fn worse(a: Security, b: Security) -> Security {
    match (a, b) {
        (Security::Bogus, _) | (_, Security::Bogus) => Security::Bogus,
        (Security::Insecure, _) | (_, Security::Insecure) => Security::Insecure,
        _ => Security::Secure,
    }
}

/// What a validator concludes for one step, from the world's ground truth: the zone's
/// delegation chain, broken signatures on what was served, and Opt-Out denials (D-02).
fn hop_security(
    instance: &ZoneInstance,
    z: &Zone,
    name: &Name,
    qtype: u16,
    local: &Local,
) -> Security {
    if instance.security != Security::Secure {
        return instance.security;
    }
    let served: Vec<&Record> = match local {
        Local::Answer(a, b) | Local::Cname(a, _, b) => a.iter().chain(b).collect(),
        Local::Dname(a, _) | Local::NoData(a) | Local::NxDomain(a) => a.iter().collect(),
        Local::Referral(a, _) => a.iter().collect(),
    };
    if served
        .iter()
        .any(|r| instance.sig_faults.contains(&(r.name.clone(), r.rtype())))
    {
        return Security::Bogus;
    }
    let opt_out = z.nsec3_params.as_ref().is_some_and(|p| p.opt_out);
    let insecure_cut = qtype == rtype::DS
        && z.cuts.contains(name)
        && !z
            .nodes
            .get(name)
            .is_some_and(|n| n.rrsets.contains_key(&rtype::DS));
    if opt_out && (matches!(local, Local::NxDomain(_)) || insecure_cut) {
        return Security::Insecure;
    }
    Security::Secure
}

/// Without DO, DNSSEC records are left out unless asked for (RFC 4035 section 3.2.1).
fn strip_dnssec(resp: &mut Response, qtype: u16) {
    let keep = |r: &Record| {
        let t = r.rtype();
        !matches!(t, rtype::RRSIG | rtype::NSEC | rtype::NSEC3) || t == qtype
    };
    resp.answer.retain(keep);
    resp.authority.retain(keep);
    resp.additional.retain(keep);
}

fn lookup(z: &Zone, qname: &Name, qtype: u16) -> Local {
    // Walk down from the apex: a cut or a DNAME above qname takes over.
    for n in (z.apex.len() + 1)..qname.len() {
        let ancestor = qname.suffix(n);
        if z.cuts.contains(&ancestor) {
            return referral(z, &ancestor);
        }
        if let Some(node) = z.nodes.get(&ancestor)
            && let Some(dname) = node.rrset(rtype::DNAME)
        {
            let Some(Rdata::Dname(target)) = node.rrsets[&rtype::DNAME].first().map(|r| &r.rdata)
            else {
                break;
            };
            let Some(new_name) = qname.replace_suffix(&ancestor, target) else {
                return nxdomain(z, qname);
            };
            let ttl = node.rrsets[&rtype::DNAME][0].ttl;
            let mut rrs = dname;
            rrs.push(Record::new(
                qname.clone(),
                ttl,
                Rdata::Cname(new_name.clone()),
            ));
            return Local::Dname(rrs, new_name);
        }
    }
    if z.cuts.contains(qname) && qtype != rtype::DS {
        return referral(z, qname);
    }
    if let Some(node) = z.nodes.get(qname) {
        if let Some(rrs) = node.rrset(qtype) {
            return Local::Answer(rrs, Vec::new());
        }
        if let Some(rrs) = node.rrset(rtype::CNAME) {
            let target = cname_target(&rrs);
            return Local::Cname(rrs, target, Vec::new());
        }
        return nodata(z, qname);
    }
    if z.empty_non_terminals.contains(qname) {
        return nodata(z, qname);
    }
    // RFC 4592: a wildcard at the closest encloser.
    let ce = closest_encloser(z, qname);
    let wildcard = ce.child("*");
    if let Some(node) = z.nodes.get(&wildcard) {
        let denial = wildcard_answer_proof(z, qname, &ce);
        let expand = |rrs: Vec<Record>| -> Vec<Record> {
            rrs.into_iter()
                .map(|mut r| {
                    r.name = qname.clone();
                    r
                })
                .collect()
        };
        if let Some(rrs) = node.rrset(qtype) {
            return Local::Answer(expand(rrs), denial);
        }
        if let Some(rrs) = node.rrset(rtype::CNAME) {
            let target = cname_target(&rrs);
            return Local::Cname(expand(rrs), target, denial);
        }
        return wildcard_nodata(z, qname, &ce, &wildcard);
    }
    nxdomain(z, qname)
}

fn cname_target(rrs: &[Record]) -> Name {
    rrs.iter()
        .find_map(|r| match &r.rdata {
            Rdata::Cname(t) => Some(t.clone()),
            _ => None,
        })
        .unwrap_or_else(Name::root)
}

/// The longest ancestor of `qname` that exists in the zone.
fn closest_encloser(z: &Zone, qname: &Name) -> Name {
    let mut n = qname.parent();
    while n.len() > z.apex.len() && !z.exists(&n) {
        n = n.parent();
    }
    n
}

fn soa(z: &Zone) -> Vec<Record> {
    let mut out = z.nodes[&z.apex].rrset(rtype::SOA).unwrap_or_default();
    // RFC 2308 section 5: negative answers are cached for min(SOA TTL, SOA minimum).
    for r in &mut out {
        r.ttl = r.ttl.min(z.negative_ttl);
    }
    out
}

fn referral(z: &Zone, cut: &Name) -> Local {
    let node = &z.nodes[cut];
    let mut auth = node.rrsets.get(&rtype::NS).cloned().unwrap_or_default();
    match node.rrset(rtype::DS) {
        Some(ds) => auth.extend(ds),
        None => auth.extend(nodata_proof(z, cut)),
    }
    let glue = auth
        .iter()
        .filter_map(|r| match &r.rdata {
            Rdata::Ns(ns) => z.glue.get(ns).cloned(),
            _ => None,
        })
        .flatten()
        .collect();
    Local::Referral(auth, glue)
}

fn nodata(z: &Zone, qname: &Name) -> Local {
    let mut auth = soa(z);
    auth.extend(nodata_proof(z, qname));
    Local::NoData(auth)
}

fn nxdomain(z: &Zone, qname: &Name) -> Local {
    let mut auth = soa(z);
    if z.signed {
        let ce = closest_encloser(z, qname);
        if z.nsec3_params.is_some() {
            push_unique(&mut auth, nsec3_closest_encloser_proof(z, qname, &ce));
            push_unique(&mut auth, nsec3_cover(z, &ce.child("*")));
        } else {
            push_unique(&mut auth, nsec_cover(z, qname));
            push_unique(&mut auth, nsec_cover(z, &ce.child("*")));
        }
    }
    Local::NxDomain(auth)
}

/// Proof that `name` (which exists, or is a cut) has no RRset of the asked type.
fn nodata_proof(z: &Zone, name: &Name) -> Vec<Record> {
    if !z.signed {
        return Vec::new();
    }
    if z.nsec3_params.is_some() {
        let matching = nsec3_match(z, name);
        if !matching.is_empty() {
            return matching;
        }
        // Opt-out (RFC 5155 section 7.2.4): an insecure delegation without an NSEC3 of its
        // own is proven by the closest provable encloser and an opt-out NSEC3 covering the
        // next closer name.
        let ce = closest_provable_encloser(z, name);
        return nsec3_closest_encloser_proof(z, name, &ce);
    }
    match z.nodes.get(name).and_then(|n| n.rrset(rtype::NSEC)) {
        Some(nsec) => nsec,
        // An empty non-terminal: the NSEC that covers it (RFC 4035 section 3.1.3.2).
        None => nsec_cover(z, name),
    }
}

fn wildcard_answer_proof(z: &Zone, qname: &Name, ce: &Name) -> Vec<Record> {
    if !z.signed {
        return Vec::new();
    }
    if z.nsec3_params.is_some() {
        // RFC 5155 section 7.2.6: the NSEC3 covering the next closer name.
        nsec3_cover(z, &next_closer(qname, ce))
    } else {
        nsec_cover(z, qname)
    }
}

fn wildcard_nodata(z: &Zone, qname: &Name, ce: &Name, wildcard: &Name) -> Local {
    let mut auth = soa(z);
    if z.signed {
        if z.nsec3_params.is_some() {
            // RFC 5155 section 7.2.5.
            push_unique(&mut auth, nsec3_closest_encloser_proof(z, qname, ce));
            push_unique(&mut auth, nsec3_match(z, wildcard));
        } else {
            push_unique(&mut auth, nsec_cover(z, qname));
            push_unique(
                &mut auth,
                z.nodes[wildcard].rrset(rtype::NSEC).unwrap_or_default(),
            );
        }
    }
    Local::NoData(auth)
}

fn push_unique(out: &mut Vec<Record>, records: Vec<Record>) {
    for r in records {
        if !out.contains(&r) {
            out.push(r);
        }
    }
}

/// The NSEC (with RRSIG) whose interval covers `name`.
fn nsec_cover(z: &Zone, name: &Name) -> Vec<Record> {
    let owner = z
        .nodes
        .range(..name.clone())
        .next_back()
        .or_else(|| z.nodes.iter().next_back())
        .map(|(n, _)| n.clone());
    owner
        .and_then(|o| z.nodes[&o].rrset(rtype::NSEC))
        .unwrap_or_default()
}

fn hash(z: &Zone, name: &Name) -> Vec<u8> {
    let p = z
        .nsec3_params
        .as_ref()
        .map_or((&[][..], 0), |p| (&p.salt[..], p.iterations));
    keys::nsec3_hash(name, p.0, p.1)
}

fn nsec3_match(z: &Zone, name: &Name) -> Vec<Record> {
    let h = hash(z, name);
    z.nsec3
        .iter()
        .find(|(x, _)| *x == h)
        .map(|(_, rrs)| rrs.clone())
        .unwrap_or_default()
}

fn nsec3_cover(z: &Zone, name: &Name) -> Vec<Record> {
    let h = hash(z, name);
    let i = z.nsec3.partition_point(|(x, _)| *x < h);
    let idx = if i == 0 {
        z.nsec3.len().saturating_sub(1)
    } else {
        i - 1
    };
    // An exact match would be a match, not a cover: the caller asked for a name it believes
    // absent, so return what holds the interval below it.
    z.nsec3
        .get(idx)
        .map(|(_, rrs)| rrs.clone())
        .unwrap_or_default()
}

fn next_closer(qname: &Name, ce: &Name) -> Name {
    qname.suffix(ce.len() + 1)
}

/// The longest ancestor of `name` (or `name` itself' parent chain) that has an NSEC3.
fn closest_provable_encloser(z: &Zone, name: &Name) -> Name {
    let mut n = name.parent();
    while n.len() > z.apex.len() && nsec3_match(z, &n).is_empty() {
        n = n.parent();
    }
    n
}

fn nsec3_closest_encloser_proof(z: &Zone, qname: &Name, ce: &Name) -> Vec<Record> {
    let mut out = nsec3_match(z, ce);
    push_unique(&mut out, nsec3_cover(z, &next_closer(qname, ce)));
    out
}

/// The NSEC3 owner name of `name` in zone `apex` (for tests and tools).
pub fn nsec3_owner(apex: &Name, name: &Name, salt: &[u8], iterations: u16) -> Name {
    apex.child(
        &BASE32HEX_NOPAD
            .encode(&keys::nsec3_hash(name, salt, iterations))
            .to_ascii_lowercase(),
    )
}
