//! The generated-chain cases of issue 5, shared by the offline tests (`chains.rs`) and the
//! handshake tests (`handshake.rs`), so that both judge exactly the same situations.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use mxdane_lab::certs::{CertSpec, KeyAlg, Pki, TestCert};
use mxdane_tls::{ChainProblem, RecordOutcome, Report, Verdict};
use mxdane_tlsa::{Certificate, MatchingType, Name, Selector, Subject, Tlsa, Usage};

pub const HOST: &str = "mx.example.test";

/// What a case must end in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Authenticated; the winning match at this depth.
    Auth(usize),
    /// Not authenticated; one description per record (see [`describe`]).
    Fail(Vec<&'static str>),
}

/// One situation: what the server sends, what DNS says, which names the plan supplies.
pub struct Case {
    pub name: String,
    pub chain: Vec<TestCert>,
    pub records: Vec<Tlsa>,
    pub names: Vec<Name>,
    pub expect: Expect,
}

impl Case {
    pub fn chain_der(&self) -> Vec<Vec<u8>> {
        self.chain.iter().map(|c| c.der().to_vec()).collect()
    }

    /// Compares a report with the expectation; returns a complaint or None.
    pub fn check(&self, report: &Report) -> Option<String> {
        let got = match report.verdict() {
            Verdict::Authenticated { depth, .. } => Expect::Auth(*depth),
            _ => Expect::Fail(report.outcomes().iter().map(describe).collect()),
        };
        (got != self.expect).then(|| {
            format!(
                "{}: expected {:?}, got {:?}\n  outcomes: {:?}",
                self.name,
                self.expect,
                got,
                report.outcomes()
            )
        })
    }
}

/// The outcome kind, with the chain problem for `chain-invalid`.
pub fn describe(o: &RecordOutcome) -> &'static str {
    match o {
        RecordOutcome::ChainInvalid { problem, .. } => match problem {
            ChainProblem::Expired => "chain-invalid:expired",
            ChainProblem::NotYetValid => "chain-invalid:not-yet-valid",
            ChainProblem::AnchorNotValid => "chain-invalid:anchor-not-valid",
            ChainProblem::NoPath => "chain-invalid:bad-signature",
            ChainProblem::BadSignature => "chain-invalid:bad-signature",
            ChainProblem::NotCa => "chain-invalid:not-ca",
            _ => "chain-invalid:other",
        },
        other => other.kind(),
    }
}

/// A record `"U S M"` for `cert`.
pub fn rec(cert: &TestCert, params: &str) -> Tlsa {
    let p: Vec<u8> = params.split(' ').map(|n| n.parse().unwrap()).collect();
    let parsed = Certificate::from_der(cert.der()).unwrap();
    mxdane_tlsa::matching::generate(
        Subject::Certificate(&parsed),
        Usage::from(p[0]),
        Selector::from(p[1]),
        MatchingType::from(p[2]),
    )
    .unwrap()
}

/// A record that matches nothing, with the digest length of `"U S M"`.
pub fn bogus(params: &str) -> Tlsa {
    let len = match params.rsplit(' ').next() {
        Some("2") => 64,
        _ => 32,
    };
    format!("{params} {}", "ab".repeat(len)).parse().unwrap()
}

pub fn names(list: &[&str]) -> Vec<Name> {
    list.iter().map(|n| Name::try_parse(n).unwrap()).collect()
}

fn case(
    alg: KeyAlg,
    name: &str,
    chain: &[&TestCert],
    records: Vec<Tlsa>,
    reference: &[&str],
    expect: Expect,
) -> Case {
    Case {
        name: format!("{alg:?}: {name}"),
        chain: chain.iter().map(|c| (*c).clone()).collect(),
        records,
        names: names(reference),
        expect,
    }
}

use Expect::{Auth, Fail};

/// Every case of the "Done when" for one key algorithm.
pub fn cases(alg: KeyAlg) -> Vec<Case> {
    let pki = Pki::new(alg, HOST);
    let (root, int, leaf) = (&pki.root, &pki.intermediate, &pki.leaf);
    let leaf_with = |spec: CertSpec| spec.alg(alg).signed_by(int);
    let expired_leaf = leaf_with(CertSpec::leaf(&[HOST]).expired());
    let future_leaf = leaf_with(CertSpec::leaf(&[HOST]).not_yet_valid());
    let other_leaf = leaf_with(CertSpec::leaf(&["other.example.test"]));
    let wildcard_leaf = leaf_with(CertSpec::leaf(&["*.example.test"]));
    let cn_leaf = leaf_with(CertSpec::cn_only(HOST));
    let cn_other_leaf = leaf_with(CertSpec::cn_only("other.example.test"));
    let expired_int = CertSpec::ca("Lab Issuer")
        .alg(alg)
        .key_slot(101)
        .expired()
        .signed_by(root);
    let under_expired = CertSpec::leaf(&[HOST]).alg(alg).signed_by(&expired_int);
    // Same names, different keys: a chain "re-signed" by someone else.
    let fake_root = CertSpec::ca("Lab Root")
        .alg(alg)
        .key_slot(110)
        .self_signed();
    let fake_int = CertSpec::ca("Lab Issuer")
        .alg(alg)
        .key_slot(111)
        .signed_by(&fake_root);
    let fake_leaf = CertSpec::leaf(&[HOST])
        .alg(alg)
        .key_slot(1)
        .signed_by(&fake_int);
    let unrelated = CertSpec::ca("Unrelated CA")
        .alg(alg)
        .key_slot(120)
        .self_signed();
    // An end-entity certificate (no CA basic constraint) acting as the issuer (issue 19).
    let ee_issuer = CertSpec::leaf(&["issuer.example.test"])
        .alg(alg)
        .key_slot(130)
        .signed_by(int);
    let under_ee = CertSpec::leaf(&[HOST]).alg(alg).signed_by(&ee_issuer);
    // Name constraints (issue 13): a CA limited to example.org issues a CN-only certificate
    // for HOST; one limited to example.test may.
    let nc_other = CertSpec::ca("Constrained Issuer")
        .alg(alg)
        .key_slot(140)
        .permitted_dns(&["example.org"])
        .signed_by(root);
    let nc_same = CertSpec::ca("Constrained Issuer")
        .alg(alg)
        .key_slot(141)
        .permitted_dns(&["example.test"])
        .signed_by(root);
    let cn_under_other = CertSpec::cn_only(HOST).alg(alg).signed_by(&nc_other);
    let cn_under_same = CertSpec::cn_only(HOST).alg(alg).signed_by(&nc_same);
    let full = [leaf, int, root];
    let h = &[HOST][..];
    vec![
        // T-08: the CN fallback obeys the issuers' name constraints.
        case(
            alg,
            "CN-only leaf under a CA constrained to another domain",
            &[&cn_under_other, &nc_other],
            vec![rec(&nc_other, "2 1 1")],
            h,
            Fail(vec!["name-mismatch"]),
        ),
        case(
            alg,
            "CN-only leaf under a CA constrained to its own domain",
            &[&cn_under_same, &nc_same],
            vec![rec(&nc_same, "2 1 1")],
            h,
            Auth(1),
        ),
        // T-07: the path to a DANE-TA anchor must go through CAs only.
        case(
            alg,
            "2 1 1 on the intermediate above an issuer that is not a CA",
            &[&under_ee, &ee_issuer, int],
            vec![rec(int, "2 1 1")],
            h,
            Fail(vec!["chain-invalid:not-ca"]),
        ),
        case(
            alg,
            "2 1 1 on an issuer that is not a CA",
            &[&under_ee, &ee_issuer, int],
            vec![rec(&ee_issuer, "2 1 1")],
            h,
            Fail(vec!["chain-invalid:not-ca"]),
        ),
        // T-06: DANE-EE(3).
        case(
            alg,
            "3 1 1 on the leaf",
            &full,
            vec![rec(leaf, "3 1 1")],
            h,
            Auth(0),
        ),
        case(
            alg,
            "3 0 2 on the leaf",
            &full,
            vec![rec(leaf, "3 0 2")],
            h,
            Auth(0),
        ),
        case(
            alg,
            "expired leaf passes 3 1 1",
            &[&expired_leaf, int, root],
            vec![rec(&expired_leaf, "3 1 1")],
            h,
            Auth(0),
        ),
        case(
            alg,
            "wrong name passes 3 1 1",
            &[&other_leaf, int],
            vec![rec(&other_leaf, "3 1 1")],
            h,
            Auth(0),
        ),
        case(
            alg,
            "3 1 1 of another key",
            &full,
            vec![rec(&fake_leaf, "3 1 1")],
            h,
            Fail(vec!["no-match"]),
        ),
        // T-07: DANE-TA(2).
        case(
            alg,
            "2 1 1 on the intermediate",
            &full,
            vec![rec(int, "2 1 1")],
            h,
            Auth(1),
        ),
        case(
            alg,
            "2 0 2 on the intermediate",
            &full,
            vec![rec(int, "2 0 2")],
            h,
            Auth(1),
        ),
        case(
            alg,
            "2 1 1 on the root",
            &full,
            vec![rec(root, "2 1 1")],
            h,
            Auth(2),
        ),
        case(
            alg,
            "2 0 1 on the root",
            &full,
            vec![rec(root, "2 0 1")],
            h,
            Auth(2),
        ),
        case(
            alg,
            "expired leaf fails 2 1 1",
            &[&expired_leaf, int, root],
            vec![rec(int, "2 1 1")],
            h,
            Fail(vec!["chain-invalid:expired"]),
        ),
        case(
            alg,
            "not-yet-valid leaf fails 2 1 1",
            &[&future_leaf, int, root],
            vec![rec(int, "2 1 1")],
            h,
            Fail(vec!["chain-invalid:not-yet-valid"]),
        ),
        case(
            alg,
            "expired intermediate as anchor fails",
            &[&under_expired, &expired_int, root],
            vec![rec(&expired_int, "2 1 1")],
            h,
            Fail(vec!["chain-invalid:anchor-not-valid"]),
        ),
        case(
            alg,
            "expired intermediate below the root anchor fails",
            &[&under_expired, &expired_int, root],
            vec![rec(root, "2 1 1")],
            h,
            Fail(vec!["chain-invalid:expired"]),
        ),
        case(
            alg,
            "2 x x matching the leaf itself fails",
            &full,
            vec![
                rec(leaf, "2 1 1"),
                rec(leaf, "2 0 1"),
                rec(leaf, "2 0 0"),
                rec(leaf, "2 1 0"),
            ],
            h,
            Fail(vec!["leaf-only"; 4]),
        ),
        case(
            alg,
            "anchor not sent fails 2 1 1",
            &[leaf, int],
            vec![rec(root, "2 1 1")],
            h,
            Fail(vec!["no-match"]),
        ),
        case(
            alg,
            "anchor not sent passes 2 0 0",
            &[leaf, int],
            vec![rec(root, "2 0 0")],
            h,
            Auth(2),
        ),
        case(
            alg,
            "anchor not sent passes 2 1 0",
            &[leaf, int],
            vec![rec(root, "2 1 0")],
            h,
            Auth(1),
        ),
        case(
            alg,
            "2 1 0 of the issuer signs the leaf directly",
            &[leaf],
            vec![rec(int, "2 1 0")],
            h,
            Auth(0),
        ),
        case(
            alg,
            "out of order and superfluous certificates",
            &[leaf, root, &unrelated, int],
            vec![rec(root, "2 1 1")],
            h,
            Auth(2),
        ),
        case(
            alg,
            "re-signed chain with the real intermediate fails",
            &[&fake_leaf, int, root],
            vec![rec(int, "2 1 1")],
            h,
            Fail(vec!["chain-invalid:bad-signature"]),
        ),
        case(
            alg,
            "re-signed chain with the real root fails",
            &[&fake_leaf, &fake_int, root],
            vec![rec(root, "2 1 1")],
            h,
            Fail(vec!["chain-invalid:bad-signature"]),
        ),
        case(
            alg,
            "re-signed chain sent whole fails",
            &[&fake_leaf, &fake_int, &fake_root],
            vec![rec(int, "2 1 1"), rec(root, "2 1 1")],
            h,
            Fail(vec!["no-match", "no-match"]),
        ),
        case(
            alg,
            "re-signed chain against a 2 0 0 root fails",
            &[&fake_leaf, &fake_int],
            vec![rec(root, "2 0 0")],
            h,
            Fail(vec!["chain-invalid:bad-signature"]),
        ),
        // T-08, T-09: names.
        case(
            alg,
            "wrong name fails 2 1 1",
            &[&other_leaf, int],
            vec![rec(int, "2 1 1")],
            h,
            Fail(vec!["name-mismatch"]),
        ),
        case(
            alg,
            "second reference identifier matches",
            &[&other_leaf, int],
            vec![rec(int, "2 1 1")],
            &[HOST, "other.example.test"],
            Auth(1),
        ),
        case(
            alg,
            "*.example.test matches mx.example.test",
            &[&wildcard_leaf, int],
            vec![rec(int, "2 1 1")],
            h,
            Auth(1),
        ),
        case(
            alg,
            "*.example.test does not match a.mx.example.test",
            &[&wildcard_leaf, int],
            vec![rec(int, "2 1 1")],
            &["a.mx.example.test"],
            Fail(vec!["name-mismatch"]),
        ),
        case(
            alg,
            "*.example.test does not match example.test",
            &[&wildcard_leaf, int],
            vec![rec(int, "2 1 1")],
            &["example.test"],
            Fail(vec!["name-mismatch"]),
        ),
        case(
            alg,
            "CN-only certificate matches by CN",
            &[&cn_leaf, int],
            vec![rec(int, "2 1 1")],
            h,
            Auth(1),
        ),
        case(
            alg,
            "CN-only certificate with another CN fails",
            &[&cn_other_leaf, int],
            vec![rec(int, "2 1 1")],
            h,
            Fail(vec!["name-mismatch"]),
        ),
        // T-05: digest agility; T-04: PKIX usages.
        case(
            alg,
            "SHA2-512 wins: good 3 1 1 beside a bad 3 1 2 fails",
            &full,
            vec![rec(leaf, "3 1 1"), bogus("3 1 2")],
            h,
            Fail(vec!["superseded", "no-match"]),
        ),
        case(
            alg,
            "SHA2-512 wins: bad 3 1 1 beside a good 3 1 2 passes",
            &full,
            vec![bogus("3 1 1"), rec(leaf, "3 1 2")],
            h,
            Auth(0),
        ),
        case(
            alg,
            "Full(0) always counts beside a bad 3 1 2",
            &full,
            vec![rec(leaf, "3 1 0"), bogus("3 1 2")],
            h,
            Auth(0),
        ),
        case(
            alg,
            "Full(0) 2 0 0 counts beside a bad 2 0 2",
            &[leaf, int],
            vec![bogus("2 0 2"), rec(root, "2 0 0")],
            h,
            Auth(2),
        ),
        case(
            alg,
            "PKIX-EE and PKIX-TA are unusable",
            &full,
            vec![rec(leaf, "1 1 1"), rec(root, "0 1 1")],
            h,
            Fail(vec!["unusable", "unusable"]),
        ),
        case(
            alg,
            "DANE-EE wins over DANE-TA",
            &full,
            vec![rec(root, "2 1 1"), rec(leaf, "3 1 1")],
            h,
            Auth(0),
        ),
    ]
}
