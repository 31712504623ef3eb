//! A world with every fault knob, and what a validating resolver must conclude for each name:
//! the shared fixture of the lab's own tests, the DNS crate's tests and the interop tier.

use super::keys::Algorithm;
use super::rdata::rtype;
use super::world::{Delegation, ServerFault, SigFault, World};

/// A TLSA digest used throughout the fixture (the data is irrelevant to DNSSEC).
pub const DIGEST: &str = "8cb0fc6c527506a053f4f14c8464bebbd6dede2738d11468dd953d7d6a3021f1";
/// The digest the second server of `rollover.test` still serves.
pub const OLD_DIGEST: &str = "0000fc6c527506a053f4f14c8464bebbd6dede2738d11468dd953d7d6a3021f1";

/// What a validator must conclude for a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Secure data.
    Secure,
    /// Secure proof that the name does not exist.
    SecureNxdomain,
    /// Secure proof that the name has no data of the type.
    SecureNodata,
    /// Provably insecure data (an insecure delegation above it).
    Insecure,
    /// Provably insecure non-existence.
    InsecureNxdomain,
    /// Signatures do not validate: bogus.
    Bogus,
    /// The servers answer SERVFAIL.
    Servfail,
    /// The servers do not answer.
    Timeout,
}

/// One expectation of the fixture.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    /// The question name.
    pub name: &'static str,
    /// The question type.
    pub qtype: u16,
    /// The expected verdict.
    pub verdict: Verdict,
    /// Which knob this exercises.
    pub knob: &'static str,
}

const fn case(name: &'static str, qtype: u16, verdict: Verdict, knob: &'static str) -> Case {
    Case {
        name,
        qtype,
        verdict,
        knob,
    }
}

/// The expectations, one or more per knob.
pub const CASES: &[Case] = &[
    case(
        "secure.test.",
        rtype::MX,
        Verdict::Secure,
        "ECDSA P-256 KSK/ZSK, NSEC",
    ),
    case("mx.secure.test.", rtype::A, Verdict::Secure, "address"),
    case(
        "mx.secure.test.",
        rtype::AAAA,
        Verdict::Secure,
        "IPv6 address",
    ),
    case(
        "_25._tcp.mx.secure.test.",
        rtype::TLSA,
        Verdict::Secure,
        "TLSA",
    ),
    case(
        "secure.test.",
        rtype::DS,
        Verdict::Secure,
        "DS from the parent side",
    ),
    case("nullmx.secure.test.", rtype::MX, Verdict::Secure, "null MX"),
    case(
        "nothing.secure.test.",
        rtype::A,
        Verdict::SecureNxdomain,
        "NSEC NXDOMAIN",
    ),
    case(
        "a.b.mx.secure.test.",
        rtype::A,
        Verdict::SecureNxdomain,
        "NSEC NXDOMAIN two labels below an existing name",
    ),
    case(
        "_25._tcp.nothing.secure.test.",
        rtype::TLSA,
        Verdict::SecureNxdomain,
        "TLSA of a missing host",
    ),
    case(
        "mx.secure.test.",
        rtype::TLSA,
        Verdict::SecureNodata,
        "NSEC NODATA",
    ),
    case(
        "ent.secure.test.",
        rtype::A,
        Verdict::SecureNodata,
        "empty non-terminal",
    ),
    case(
        "host.wild.secure.test.",
        rtype::A,
        Verdict::Secure,
        "wildcard answer",
    ),
    case(
        "host.wild.secure.test.",
        rtype::TXT,
        Verdict::SecureNodata,
        "wildcard NODATA",
    ),
    case(
        "alias.secure.test.",
        rtype::A,
        Verdict::Secure,
        "CNAME in one zone",
    ),
    case(
        "cross.secure.test.",
        rtype::A,
        Verdict::Secure,
        "CNAME across zones (NSEC3 target)",
    ),
    case(
        "toinsecure.secure.test.",
        rtype::A,
        Verdict::Insecure,
        "CNAME from secure to insecure",
    ),
    case(
        "mxcname.secure.test.",
        rtype::MX,
        Verdict::Secure,
        "MX whose exchange is a CNAME",
    ),
    case(
        "mx.dn.secure.test.",
        rtype::A,
        Verdict::Secure,
        "DNAME to another zone",
    ),
    case(
        "mx.dnin.secure.test.",
        rtype::A,
        Verdict::Insecure,
        "DNAME from secure to insecure",
    ),
    case(
        "tosecure.insecure.test.",
        rtype::A,
        Verdict::Insecure,
        "CNAME from insecure to secure",
    ),
    case(
        "_25._tcp.mx.nsec3.test.",
        rtype::TLSA,
        Verdict::Secure,
        "TLSA through CNAME to _dane",
    ),
    case(
        "mx.nsec3.test.",
        rtype::A,
        Verdict::Secure,
        "Ed25519, NSEC3 without salt",
    ),
    case(
        "nothing.nsec3.test.",
        rtype::A,
        Verdict::SecureNxdomain,
        "NSEC3 NXDOMAIN",
    ),
    case(
        "mx.nsec3.test.",
        rtype::MX,
        Verdict::SecureNodata,
        "NSEC3 NODATA",
    ),
    case(
        "a.b.mx.nsec3.test.",
        rtype::A,
        Verdict::SecureNxdomain,
        "NSEC3 NXDOMAIN two labels below",
    ),
    case(
        "host.wild.nsec3.test.",
        rtype::A,
        Verdict::Secure,
        "NSEC3 wildcard answer",
    ),
    case(
        "host.wild.nsec3.test.",
        rtype::TXT,
        Verdict::SecureNodata,
        "NSEC3 wildcard NODATA",
    ),
    case(
        "mx.rsa.test.",
        rtype::A,
        Verdict::Secure,
        "RSA/SHA-256, NSEC3 with salt and iterations",
    ),
    case(
        "nothing.rsa.test.",
        rtype::A,
        Verdict::SecureNxdomain,
        "NSEC3 with salt NXDOMAIN",
    ),
    case(
        "mx.optout.test.",
        rtype::A,
        Verdict::Secure,
        "NSEC3 opt-out zone",
    ),
    case(
        "mx.child.optout.test.",
        rtype::A,
        Verdict::Insecure,
        "unsigned child under opt-out",
    ),
    case(
        "mx.insecure.test.",
        rtype::A,
        Verdict::Insecure,
        "insecure delegation (no DS)",
    ),
    case(
        "_25._tcp.mx.insecure.test.",
        rtype::TLSA,
        Verdict::Insecure,
        "TLSA in an insecure zone",
    ),
    case(
        "nothing.insecure.test.",
        rtype::A,
        Verdict::InsecureNxdomain,
        "NXDOMAIN in an insecure zone",
    ),
    case(
        "mx.badds.test.",
        rtype::A,
        Verdict::Bogus,
        "DS matching no DNSKEY",
    ),
    case(
        "ok.faults.test.",
        rtype::A,
        Verdict::Secure,
        "intact data beside faults",
    ),
    case(
        "_25._tcp.expired.faults.test.",
        rtype::TLSA,
        Verdict::Bogus,
        "expired RRSIG",
    ),
    case(
        "_25._tcp.future.faults.test.",
        rtype::TLSA,
        Verdict::Bogus,
        "not-yet-valid RRSIG",
    ),
    case(
        "_25._tcp.corrupt.faults.test.",
        rtype::TLSA,
        Verdict::Bogus,
        "corrupted RRSIG",
    ),
    case(
        "_25._tcp.nosig.faults.test.",
        rtype::TLSA,
        Verdict::Bogus,
        "missing RRSIG",
    ),
    case(
        "mx.servfail.test.",
        rtype::A,
        Verdict::Secure,
        "SERVFAIL server still answers A",
    ),
    case(
        "_25._tcp.mx.servfail.test.",
        rtype::TLSA,
        Verdict::Servfail,
        "SERVFAIL for TLSA only",
    ),
    case(
        "mx.timeout.test.",
        rtype::A,
        Verdict::Secure,
        "silent server still answers A",
    ),
    case(
        "_25._tcp.mx.timeout.test.",
        rtype::TLSA,
        Verdict::Timeout,
        "timeout for TLSA only",
    ),
    case(
        "_25._tcp.mx.rollover.test.",
        rtype::TLSA,
        Verdict::Secure,
        "two servers, different TLSA RRsets",
    ),
];

/// The world behind [`CASES`]: a private root, `test.`, and one zone per knob.
pub fn every_knob() -> World {
    let tlsa = format!("3 1 1 {DIGEST}");
    let host = |z: super::world::ZoneSpec| {
        z.mx("@", 10, "mx")
            .a("mx", "127.0.0.1")
            .aaaa("mx", "::1")
            .tlsa("_25._tcp.mx", &tlsa)
    };
    World::builder()
        .zone("secure.test", |z| {
            host(z)
                .null_mx("nullmx")
                .a("a.b.ent", "127.0.0.2")
                .a("*.wild", "127.0.0.3")
                .cname("alias", "mx")
                .cname("cross", "mx.nsec3.test.")
                .cname("toinsecure", "mx.insecure.test.")
                .mx("mxcname", 10, "alias")
                .dname("dn", "nsec3.test.")
                .dname("dnin", "insecure.test.")
                .tlsa("3.1.1._dane", &tlsa)
        })
        .zone("nsec3.test", |z| {
            // TLSA reached through a CNAME, as in the seed how-to.
            z.mx("@", 10, "mx")
                .a("mx", "127.0.0.1")
                .aaaa("mx", "::1")
                .cname("_25._tcp.mx", "3.1.1._dane.secure.test.")
                .algorithm(Algorithm::Ed25519)
                .csk()
                .nsec3(0, "", false)
                .a("*.wild", "127.0.0.3")
        })
        .zone("rsa.test", |z| {
            host(z)
                .algorithm(Algorithm::RsaSha256)
                .nsec3(5, "aabbccdd", false)
        })
        .zone("optout.test", |z| host(z).nsec3(1, "ab", true))
        .zone("child.optout.test", |z| host(z).unsigned())
        .zone("insecure.test", |z| {
            host(z).unsigned().cname("tosecure", "mx.secure.test.")
        })
        .zone("badds.test", |z| host(z).delegation(Delegation::DsMismatch))
        .zone("faults.test", |z| {
            z.a("ok", "127.0.0.1")
                .tlsa("_25._tcp.expired", &tlsa)
                .sig_fault("_25._tcp.expired", rtype::TLSA, SigFault::Expired)
                .tlsa("_25._tcp.future", &tlsa)
                .sig_fault("_25._tcp.future", rtype::TLSA, SigFault::NotYetValid)
                .tlsa("_25._tcp.corrupt", &tlsa)
                .sig_fault("_25._tcp.corrupt", rtype::TLSA, SigFault::Corrupt)
                .tlsa("_25._tcp.nosig", &tlsa)
                .sig_fault("_25._tcp.nosig", rtype::TLSA, SigFault::Missing)
        })
        .zone("servfail.test", |z| {
            host(z).server_fault(0, ServerFault::Servfail(rtype::TLSA))
        })
        .zone("timeout.test", |z| {
            host(z).server_fault(0, ServerFault::Timeout(rtype::TLSA))
        })
        .zone("rollover.test", |z| {
            host(z).second_server().server_replaces(
                1,
                "_25._tcp.mx",
                vec![super::world::parse_tlsa(&format!("3 1 1 {OLD_DIGEST}"))],
            )
        })
        .build()
}
