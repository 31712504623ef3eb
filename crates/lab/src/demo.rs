//! The demo world: one signed domain per situation that `mxdane check` must judge (a verified
//! DANE-EE and DANE-TA host, mismatches, a broken second MX host or address, an unmatched
//! algorithm, no STARTTLS, men in the middle, bogus TLSA, a failing or disagreeing
//! nameserver, an insecure domain, unusable records, an expiring signature), with its SMTP
//! and DNS servers running in-process. `mxdane lab demo` and the check tests use it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::certs::{CertSpec, KeyAlg, Pki, TestCert};
use crate::dns::rdata::rtype;
use crate::dns::resolve::Mode;
use crate::dns::server::DnsServer;
use crate::dns::world::{ServerFault, SigFault, World, ZoneSpec, ns_address};
use crate::smtp::{Behaviour, Mailbox, Mitm, MitmKind, SmtpServer, SmtpSpec};
use crate::tls::Credential;
use mxdane_dns::{NetTransport, Transport, UnboundResolver, parse_trust_anchors};
use mxdane_tlsa::{Certificate, MatchingType, Selector, Subject, Usage};

/// The domains of the demo world, one per situation (`<name>.test`).
pub const DOMAINS: &[&str] = &[
    "ee",
    "ta",
    "mismatch",
    "twomx",
    "twoaddr",
    "dual",
    "nostls",
    "strip",
    "subst",
    "bogus",
    "nsfail",
    "insecure",
    "unusable",
    "disagree",
    "expiring",
    "next",
    "bench",
    "taexp",
    "cnamemx",
    "tlsacname",
    "insecurecname",
    "insecuremx",
    "tanotsent",
    "taname",
    "bogusmx",
    "nullmx",
    "nosuch",
    "nohost",
    "halfhost",
    "hostfail",
    "shortttl",
];

fn tlsa(cert: &TestCert, usage: Usage) -> String {
    let c = Certificate::from_der(cert.der()).expect("lab certificates parse");
    mxdane_tlsa::matching::generate(
        Subject::Certificate(&c),
        usage,
        Selector::Spki,
        MatchingType::Sha256,
    )
    .map_or_else(String::new, |t| t.to_string())
}

/// A running lab: the world, every server, and what reaches them: a validating resolver over
/// the lab's recursive server, the nameserver routes and the SMTP routes (the check engine's
/// environment is built from these by its users; the lab knows nothing of it).
pub struct Demo {
    /// The world.
    pub world: Arc<World>,
    /// libunbound, forwarding to the lab's recursive server with the lab's trust anchor.
    pub validator: Arc<UnboundResolver>,
    /// A transport to each authoritative server of the lab, by its published address.
    pub nameserver: Arc<mxdane_dns::nameservers::Connect>,
    /// The recursive lab resolver (for `--resolver`).
    pub resolver: SocketAddr,
    /// Every route (SMTP and nameservers), for `mxdane check --route FROM=TO`.
    pub routes: Vec<(SocketAddr, SocketAddr)>,
    /// The SMTP routes alone (public address and port 25 to the lab server).
    pub smtp_routes: Vec<(SocketAddr, SocketAddr)>,
    /// The address where a real Postfix may stand in for the lab's dual server, and its
    /// certificates: ECDSA leaf, RSA leaf, their issuer.
    pub postfix: (SocketAddr, [TestCert; 3]),
    /// The messages the lab's main mail server (the verified hosts' server) accepted.
    pub mailbox: Mailbox,
    _keep: Vec<Box<dyn std::any::Any + Send + Sync>>,
}

impl std::fmt::Debug for Demo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Demo({} zones)", self.world.zones().len())
    }
}

/// Builds the world and starts every server (a fraction of a second).
pub fn start() -> Result<Demo, String> {
    start_with(Duration::ZERO)
}

/// The same, with the lab's latency knob: every mail and DNS server answers one round trip
/// (`latency`) late, and a TCP connection to a mail server costs one.
pub fn start_with(latency: Duration) -> Result<Demo, String> {
    let mut names: Vec<String> = DOMAINS.iter().map(|d| format!("mx.{d}.test")).collect();
    names.extend(["mx1.twomx.test".to_owned(), "mx2.twomx.test".to_owned()]);
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let pki = Pki::new(KeyAlg::EcdsaP256, "unused.test");
    let leaf = CertSpec::leaf(&name_refs).signed_by(&pki.intermediate);
    let wrong = CertSpec::leaf(&name_refs)
        .key_slot(5)
        .signed_by(&pki.intermediate);
    // The "next" key of a current + next rollover (RFC 7671 section 8.1), published ahead.
    let next = CertSpec::leaf(&name_refs)
        .key_slot(7)
        .signed_by(&pki.intermediate);
    let rsa = Pki::new(KeyAlg::Rsa2048, "mx.dual.test");
    let impostor_root = CertSpec::ca("Impostor").key_slot(120).self_signed();
    let impostor = CertSpec::leaf(&name_refs)
        .key_slot(121)
        .signed_by(&impostor_root);
    let chain = |l: &TestCert| Credential::new(&[l, &pki.intermediate]);
    let server = |default: Vec<Credential>, behaviour| {
        SmtpServer::start(SmtpSpec {
            default,
            behaviour,
            latency,
            ..SmtpSpec::default()
        })
        .map_err(|e| format!("cannot start a lab SMTP server: {e}"))
    };
    let mailbox = Mailbox::default();
    let good = SmtpServer::start(SmtpSpec {
        default: vec![chain(&leaf)],
        latency,
        mailbox: Some(mailbox.clone()),
        ..SmtpSpec::default()
    })
    .map_err(|e| format!("cannot start a lab SMTP server: {e}"))?;
    let bad = server(vec![chain(&wrong)], Behaviour::Normal)?;
    let nostls = server(vec![chain(&leaf)], Behaviour::NoStartTls)?;
    // A DANE-TA anchor that expires in three days (monitoring should warn).
    let now = time::OffsetDateTime::now_utc();
    let short_ca = CertSpec::ca("Short-lived Issuer")
        .key_slot(102)
        .validity(
            now - time::Duration::days(30),
            now + time::Duration::days(3),
        )
        .signed_by(&pki.root);
    let short_leaf = CertSpec::leaf(&["mx.taexp.test"]).signed_by(&short_ca);
    let abort = server(vec![chain(&leaf)], Behaviour::AbortHandshake)?;
    // The RSA and ECDSA certificates of the mail server at 192.0.2.30: a lab server here, a
    // real Postfix smtpd in the interop tier ([`Demo::postfix_certs`]).
    let pf_names = ["mx.postfix.test", "mx.postfix1.test"];
    let pf_ec = CertSpec::leaf(&pf_names)
        .key_slot(31)
        .signed_by(&pki.intermediate);
    let pf_rsa = CertSpec::leaf(&pf_names)
        .alg(KeyAlg::Rsa2048)
        .key_slot(30)
        .signed_by(&pki.intermediate);
    let pfdual = server(vec![chain(&pf_ec), chain(&pf_rsa)], Behaviour::Normal)?;
    let taexp = server(
        vec![Credential::new(&[&short_leaf, &short_ca])],
        Behaviour::Normal,
    )?;
    let dual = server(
        vec![
            chain(&leaf),
            Credential::new(&[&rsa.leaf, &rsa.intermediate]),
        ],
        Behaviour::Normal,
    )?;
    let strip = Mitm::start(good.addr(), MitmKind::StripStartTls).map_err(|e| e.to_string())?;
    let subst = Mitm::start(
        good.addr(),
        MitmKind::OwnCertificate(vec![Credential::new(&[&impostor, &impostor_root])]),
    )
    .map_err(|e| e.to_string())?;
    let ee = tlsa(&leaf, Usage::DaneEe);
    let host = |z: ZoneSpec, ip: &str| z.mx("@", 10, "mx").a("mx", ip).tlsa("_25._tcp.mx", &ee);
    let world = Arc::new(
        World::builder()
            .zone("ee.test", |z| {
                host(z, "192.0.2.1")
                    .aaaa("mx", "2001:db8::1")
                    .tlsa("3.1.1._dane", &ee)
            })
            .zone("ta.test", |z| {
                z.mx("@", 10, "mx")
                    .a("mx", "192.0.2.2")
                    .tlsa("_25._tcp.mx", &tlsa(&pki.intermediate, Usage::DaneTa))
            })
            .zone("mismatch.test", |z| {
                z.mx("@", 10, "mx")
                    .a("mx", "192.0.2.3")
                    .tlsa("_25._tcp.mx", &tlsa(&wrong, Usage::DaneEe))
            })
            .zone("twomx.test", |z| {
                z.mx("@", 10, "mx1")
                    .mx("@", 20, "mx2")
                    .a("mx1", "192.0.2.4")
                    .a("mx2", "192.0.2.5")
                    .tlsa("_25._tcp.mx1", &ee)
                    .tlsa("_25._tcp.mx2", &ee)
            })
            .zone("twoaddr.test", |z| {
                host(z, "192.0.2.6").aaaa("mx", "2001:db8::6")
            })
            .zone("dual.test", |z| {
                z.mx("@", 10, "mx")
                    .a("mx", "192.0.2.7")
                    .tlsa("_25._tcp.mx", &tlsa(&rsa.leaf, Usage::DaneEe))
            })
            .zone("nostls.test", |z| host(z, "192.0.2.8"))
            .zone("strip.test", |z| host(z, "192.0.2.9"))
            .zone("subst.test", |z| host(z, "192.0.2.10"))
            .zone("bogus.test", |z| {
                host(z, "192.0.2.11").sig_fault("_25._tcp.mx", rtype::TLSA, SigFault::Expired)
            })
            .zone("nsfail.test", |z| {
                host(z, "192.0.2.12")
                    .second_server()
                    .server_fault(1, ServerFault::Servfail(rtype::TLSA))
            })
            .zone("insecure.test", |z| host(z, "192.0.2.13").unsigned())
            .zone("unusable.test", |z| {
                z.mx("@", 10, "mx")
                    .a("mx", "192.0.2.14")
                    .tlsa("_25._tcp.mx", &tlsa(&leaf, Usage::PkixEe))
            })
            .zone("disagree.test", |z| {
                host(z, "192.0.2.15").second_server().server_replaces(
                    1,
                    "_25._tcp.mx",
                    vec![crate::dns::world::parse_tlsa(&tlsa(&wrong, Usage::DaneEe))],
                )
            })
            .zone("expiring.test", |z| {
                host(z, "192.0.2.16").sig_fault("_25._tcp.mx", rtype::TLSA, SigFault::ExpiresSoon)
            })
            .zone("bench.test", |z| {
                z.mx("@", 10, "mx1")
                    .mx("@", 20, "mx2")
                    .a("mx1", "192.0.2.20")
                    .aaaa("mx1", "2001:db8::20")
                    .a("mx2", "192.0.2.21")
                    .aaaa("mx2", "2001:db8::21")
                    .tlsa("_25._tcp.mx1", &ee)
                    .tlsa("_25._tcp.mx2", &ee)
            })
            .zone("taexp.test", |z| {
                z.mx("@", 10, "mx")
                    .a("mx", "192.0.2.22")
                    .tlsa("_25._tcp.mx", &tlsa(&short_ca, Usage::DaneTa))
            })
            // D-10: an MX exchange that is a CNAME.
            .zone("cnamemx.test", |z| {
                z.mx("@", 10, "alias").cname("alias", "mx.ee.test.")
            })
            // D-11: TLSA reached through a CNAME into a _dane name.
            .zone("tlsacname.test", |z| {
                z.mx("@", 10, "mx")
                    .a("mx", "192.0.2.23")
                    .cname("_25._tcp.mx", "3.1.1._dane.ee.test.")
            })
            // D-15: a signed name aliasing a host in an unsigned zone; TLSA at the alias.
            .zone("insecurecname.test", |z| {
                z.mx("@", 10, "mx")
                    .cname("mx", "mx.insecure.test.")
                    .tlsa("_25._tcp.mx", &ee)
            })
            // D-07: an unsigned domain whose MX host lives in a signed zone.
            .zone("insecuremx.test", |z| {
                z.unsigned().mx("@", 10, "mx.ee.test.")
            })
            // T-07: a DANE-TA record for the root, which the server does not send.
            .zone("tanotsent.test", |z| {
                z.mx("@", 10, "mx")
                    .a("mx", "192.0.2.24")
                    .tlsa("_25._tcp.mx", &tlsa(&pki.root, Usage::DaneTa))
            })
            // T-08: DANE-TA, but the certificate does not name the host.
            .zone("taname.test", |z| {
                z.mx("@", 10, "mx2")
                    .a("mx2", "192.0.2.25")
                    .tlsa("_25._tcp.mx2", &tlsa(&pki.intermediate, Usage::DaneTa))
            })
            // D-06: a bogus MX lookup defers the domain.
            .zone("bogusmx.test", |z| {
                host(z, "192.0.2.26").sig_fault("@", rtype::MX, SigFault::Corrupt)
            })
            .zone("nullmx.test", |z| z.null_mx("@"))
            // The only MX host does not exist.
            .zone("nohost.test", |z| z.mx("@", 10, "mx"))
            // The second MX host does not exist; the first works.
            .zone("halfhost.test", |z| {
                host(z, "192.0.2.31").mx("@", 20, "gone")
            })
            .zone("shortttl.test", |z| host(z.ttl(300), "192.0.2.33"))
            // The host's address lookups fail (SERVFAIL).
            .zone("hostfail.test", |z| {
                host(z, "192.0.2.32").server_fault(0, ServerFault::Servfail(rtype::A))
            })
            // A dual RSA+ECDSA server with both keys pinned, and with only the ECDSA key.
            .zone("postfix.test", |z| {
                z.mx("@", 10, "mx")
                    .a("mx", "192.0.2.30")
                    .tlsa("_25._tcp.mx", &tlsa(&pf_ec, Usage::DaneEe))
                    .tlsa("_25._tcp.mx", &tlsa(&pf_rsa, Usage::DaneEe))
            })
            .zone("postfix1.test", |z| {
                z.mx("@", 10, "mx")
                    .a("mx", "192.0.2.30")
                    .tlsa("_25._tcp.mx", &tlsa(&pf_ec, Usage::DaneEe))
            })
            // A server that accepts STARTTLS and then drops the connection.
            .zone("abort.test", |z| host(z, "192.0.2.27"))
            // An insecure delegation below a signed domain holds its MX host (D-15).
            .zone("subinsecure.test", |z| {
                z.mx("@", 10, "mx.child.subinsecure.test.")
            })
            .zone("child.subinsecure.test", |z| {
                z.unsigned().a("mx", "192.0.2.28").tlsa("_25._tcp.mx", &ee)
            })
            .zone("next.test", |z| {
                host(z, "192.0.2.17").tlsa("_25._tcp.mx", &tlsa(&next, Usage::DaneEe))
            })
            .build(),
    );
    let smtp = |ip: &str| SocketAddr::new(ip.parse().expect("constant address"), 25);
    let smtp_routes: Vec<(SocketAddr, SocketAddr)> = [
        ("192.0.2.1", good.addr()),
        ("2001:db8::1", good.addr()),
        ("192.0.2.2", good.addr()),
        ("192.0.2.3", good.addr()),
        ("192.0.2.4", good.addr()),
        ("192.0.2.5", bad.addr()),
        ("192.0.2.6", good.addr()),
        ("2001:db8::6", bad.addr()),
        ("192.0.2.7", dual.addr()),
        ("192.0.2.8", nostls.addr()),
        ("192.0.2.9", strip.addr()),
        ("192.0.2.10", subst.addr()),
        ("192.0.2.11", good.addr()),
        ("192.0.2.12", good.addr()),
        ("192.0.2.13", good.addr()),
        ("192.0.2.14", good.addr()),
        ("192.0.2.15", good.addr()),
        ("192.0.2.16", good.addr()),
        ("192.0.2.17", good.addr()),
        ("192.0.2.20", good.addr()),
        ("2001:db8::20", good.addr()),
        ("192.0.2.21", good.addr()),
        ("2001:db8::21", good.addr()),
        ("192.0.2.22", taexp.addr()),
        ("192.0.2.23", good.addr()),
        ("192.0.2.24", good.addr()),
        ("192.0.2.25", good.addr()),
        ("192.0.2.26", good.addr()),
        ("192.0.2.27", abort.addr()),
        ("192.0.2.28", good.addr()),
        ("192.0.2.30", pfdual.addr()),
        ("192.0.2.31", good.addr()),
        ("192.0.2.32", good.addr()),
        ("192.0.2.33", good.addr()),
    ]
    .iter()
    .map(|(ip, to)| (smtp(ip), *to))
    .collect();
    let mut keep: Vec<Box<dyn std::any::Any + Send + Sync>> = Vec::new();
    for s in [good, bad, nostls, dual, taexp, abort, pfdual] {
        keep.push(Box::new(s));
    }
    keep.push(Box::new(strip));
    keep.push(Box::new(subst));
    let postfix = (
        smtp("192.0.2.30"),
        [pf_ec, pf_rsa, pki.intermediate.clone()],
    );
    serve(world, smtp_routes, latency, keep, postfix, mailbox)
}

/// Starts every authoritative server of `world` and a recursive resolver over it, with what
/// reaches them and the mail servers of `smtp_routes`.
fn serve(
    world: Arc<World>,
    smtp_routes: Vec<(SocketAddr, SocketAddr)>,
    latency: Duration,
    mut keep: Vec<Box<dyn std::any::Any + Send + Sync>>,
    postfix: (SocketAddr, [TestCert; 3]),
    mailbox: Mailbox,
) -> Result<Demo, String> {
    // Every authoritative server of every zone, reachable at its published address.
    let mut ns_routes: HashMap<SocketAddr, SocketAddr> = HashMap::new();
    for (zi, z) in world.zones().iter().enumerate() {
        for si in 0..z.servers.len() {
            let mode = Mode::Authoritative {
                zone: zi,
                server: si,
            };
            let s =
                DnsServer::with_latency(world.clone(), mode, latency).map_err(|e| e.to_string())?;
            ns_routes.insert(SocketAddr::new(ns_address(zi, si).into(), 53), s.addr());
            keep.push(Box::new(s));
        }
    }
    let recursive = DnsServer::with_latency(world.clone(), Mode::Recursive, latency)
        .map_err(|e| e.to_string())?;
    let resolver_addr = recursive.addr();
    let smtp_only = smtp_routes.clone();
    let mut routes = smtp_routes;
    routes.extend(ns_routes.iter().map(|(a, b)| (*a, *b)));
    let resolver = Arc::new(UnboundResolver::forwarding(
        recursive.addr(),
        &parse_trust_anchors(&world.trust_anchor_text()).map_err(|e| e.to_string())?,
        Duration::from_secs(3),
    )?);
    keep.push(Box::new(recursive));
    let nameserver = Arc::new(move |addr: SocketAddr| -> Arc<dyn Transport> {
        let to = ns_routes.get(&addr).copied().unwrap_or(addr);
        Arc::new(NetTransport::new(to, Duration::from_millis(500)))
    });
    Ok(Demo {
        resolver: resolver_addr,
        routes,
        smtp_routes: smtp_only,
        postfix,
        mailbox,
        world,
        validator: resolver,
        nameserver,
        _keep: keep,
    })
}

/// The label of [`hostile`]'s zone: a quote and a brace that would end a metric's label, a
/// line feed and a forged sample after it, a backslash, a space and non-ASCII octets.
pub const HOSTILE_LABEL: &[u8] = b"q\"} 1\nmxdane_forged{target=\"ee\"} 1\n# \\\xc3\xa9\xff(;)";

/// A world whose MX host and nameservers have hostile names: `hostile.test`'s MX host is
/// `mx.<HOSTILE_LABEL>.hostile.test.`, in a signed zone of its own served by two servers
/// (`ns1.` and `ns2.` of that name), with a DANE-EE record its mail server matches. What the
/// monitor's exposition and pages must survive.
pub fn hostile() -> Result<Demo, String> {
    let pki = Pki::new(KeyAlg::EcdsaP256, "unused.test");
    let leaf = CertSpec::leaf(&["mx.hostile.test"]).signed_by(&pki.intermediate);
    let mailbox = Mailbox::default();
    let good = SmtpServer::start(SmtpSpec {
        default: vec![Credential::new(&[&leaf, &pki.intermediate])],
        mailbox: Some(mailbox.clone()),
        ..SmtpSpec::default()
    })
    .map_err(|e| format!("cannot start a lab SMTP server: {e}"))?;
    let parent = mxdane_tlsa::Name::parse("hostile.test");
    let apex = mxdane_tlsa::Name::from_labels(
        std::iter::once(HOSTILE_LABEL.to_vec())
            .chain(parent.labels().iter().cloned())
            .collect(),
    );
    let exchange = mxdane_tlsa::Name::from_labels(
        std::iter::once(b"mx".to_vec())
            .chain(apex.labels().iter().cloned())
            .collect(),
    );
    let ee = tlsa(&leaf, Usage::DaneEe);
    let world = Arc::new(
        World::builder()
            .zone("hostile.test", |z| {
                z.record("@", crate::dns::rdata::Rdata::Mx(10, exchange))
            })
            .zone_at(apex, |z| {
                z.a("mx", "192.0.2.40")
                    .tlsa("_25._tcp.mx", &ee)
                    .second_server()
            })
            .build(),
    );
    let smtp_routes = vec![(SocketAddr::new([192, 0, 2, 40].into(), 25), good.addr())];
    let postfix = (good.addr(), [leaf.clone(), leaf, pki.intermediate.clone()]);
    serve(
        world,
        smtp_routes,
        Duration::ZERO,
        vec![Box::new(good)],
        postfix,
        mailbox,
    )
}

/// What a domain of the generated world is; its index decides ([`Kind::of`]), so a run over
/// the world knows the composition it must find.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Signed, DANE-EE records its MX host's certificate matches (six in ten).
    Verified,
    /// Signed, but the MX host's TLSA records match none of its certificates (one in ten).
    Broken,
    /// Signed, the MX host in a signed zone without TLSA records (one in ten).
    NoTlsa,
    /// An unsigned zone (two in ten).
    Unsigned,
}

impl Kind {
    /// The kind of the generated world's domain `i`.
    pub fn of(i: usize) -> Self {
        match i % 10 {
            0..=5 => Self::Verified,
            6 => Self::Broken,
            7 => Self::NoTlsa,
            _ => Self::Unsigned,
        }
    }
}

/// The name of the generated world's domain `i`.
pub fn generated_name(i: usize) -> String {
    match Kind::of(i) {
        Kind::Unsigned => format!("d{i}.plain.test"),
        _ => format!("d{i}.signed.test"),
    }
}

/// How many MX hosts of each kind a generated world of `n` domains shares among them (one per
/// fifty domains, from 1 to 250: large providers host many domains each).
pub fn generated_hosts(n: usize) -> usize {
    (n / 50).clamp(1, 250)
}

/// A world of `n` mail domains ([`generated_name`], of the kinds [`Kind::of`] gives) in two
/// zones, sharing [`generated_hosts`] MX hosts of each kind, every host served by one lab
/// mail server; with the latency knob as in [`start_with`]. The monitor's and the survey's
/// tests and benchmarks use it.
pub fn generated(n: usize, latency: Duration) -> Result<Demo, String> {
    let hosts = generated_hosts(n);
    let pki = Pki::new(KeyAlg::EcdsaP256, "unused.test");
    let leaf = CertSpec::leaf(&["mx.hosts.test"]).signed_by(&pki.intermediate);
    let wrong = CertSpec::leaf(&["mx.hosts.test"])
        .key_slot(5)
        .signed_by(&pki.intermediate);
    let mailbox = Mailbox::default();
    let good = SmtpServer::start(SmtpSpec {
        default: vec![Credential::new(&[&leaf, &pki.intermediate])],
        behaviour: Behaviour::Normal,
        latency,
        mailbox: Some(mailbox.clone()),
        ..SmtpSpec::default()
    })
    .map_err(|e| format!("cannot start a lab SMTP server: {e}"))?;
    let (ee, bad) = (tlsa(&leaf, Usage::DaneEe), tlsa(&wrong, Usage::DaneEe));
    // Hosts: mxJ and badJ in hosts.test, mxJ in notlsa.test, mxJ in plain.test; one /24 each.
    let ip = |kind: u8, j: usize| format!("198.18.{kind}.{}", j % 250 + 1);
    let exchange = |i: usize| {
        let j = (i / 10) % hosts;
        match Kind::of(i) {
            Kind::Verified => format!("mx{j}.hosts.test."),
            Kind::Broken => format!("bad{j}.hosts.test."),
            Kind::NoTlsa => format!("mx{j}.notlsa.test."),
            Kind::Unsigned => format!("mx{j}.plain.test."),
        }
    };
    let world = Arc::new(
        World::builder()
            .zone("hosts.test", |mut z| {
                for j in 0..hosts {
                    z = z
                        .a(&format!("mx{j}"), &ip(0, j))
                        .tlsa(&format!("_25._tcp.mx{j}"), &ee)
                        .a(&format!("bad{j}"), &ip(1, j))
                        .tlsa(&format!("_25._tcp.bad{j}"), &bad);
                }
                z
            })
            .zone("notlsa.test", |mut z| {
                for j in 0..hosts {
                    z = z.a(&format!("mx{j}"), &ip(2, j));
                }
                z
            })
            .zone("plain.test", |mut z| {
                z = z.unsigned();
                for j in 0..hosts {
                    z = z.a(&format!("mx{j}"), &ip(3, j));
                }
                for i in (0..n).filter(|i| Kind::of(*i) == Kind::Unsigned) {
                    z = z.mx(&format!("d{i}"), 10, &exchange(i));
                }
                z
            })
            .zone("signed.test", |mut z| {
                for i in (0..n).filter(|i| Kind::of(*i) != Kind::Unsigned) {
                    z = z.mx(&format!("d{i}"), 10, &exchange(i));
                }
                z
            })
            .build(),
    );
    let smtp_routes = (0..4u8)
        .flat_map(|kind| (0..hosts).map(move |j| (kind, j)))
        .filter_map(|(kind, j)| ip(kind, j).parse().ok())
        .map(|a: std::net::IpAddr| (SocketAddr::new(a, 25), good.addr()))
        .collect();
    let postfix = (
        good.addr(),
        [leaf.clone(), wrong.clone(), pki.intermediate.clone()],
    );
    serve(
        world,
        smtp_routes,
        latency,
        vec![Box::new(good)],
        postfix,
        mailbox,
    )
}
