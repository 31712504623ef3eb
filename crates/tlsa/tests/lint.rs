//! T-12: each lint rule fires on the input it is about and stays quiet on a clean RRset.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mxdane_lab::certs::{CertSpec, KeyAlg, Pki};
use mxdane_tlsa::generate::{Inputs, Preset, plan};
use mxdane_tlsa::lint::{Chain, Rule, Severity, lint};
use mxdane_tlsa::matching::generate;
use mxdane_tlsa::{
    Certificate, MatchingType, Selector, Subject, Tlsa, Usage, parse_zone, read_material,
};

const OWNER: &str = "_25._tcp.mx.example.test.";

fn zone(records: &[String]) -> Vec<mxdane_tlsa::ZoneRecord> {
    let text: String = records
        .iter()
        .map(|r| format!("{OWNER} 3600 IN TLSA {r}\n"))
        .collect();
    parse_zone(&text, None).unwrap()
}

fn certs(pem: &str) -> Vec<Certificate> {
    read_material(pem.as_bytes()).unwrap().certificates
}

fn chain(label: &str, pem: &str) -> Chain {
    Chain {
        label: label.into(),
        certificates: certs(pem),
    }
}

fn rules(findings: &[mxdane_tlsa::lint::Finding]) -> Vec<(Rule, Severity)> {
    findings.iter().map(|f| (f.rule, f.severity)).collect()
}

fn rec(c: &Certificate, u: Usage, s: Selector, m: MatchingType) -> String {
    generate(Subject::Certificate(c), u, s, m)
        .unwrap()
        .to_string()
}

fn next_key_record() -> String {
    let next = CertSpec::leaf(&["mx.example.test"])
        .key_slot(9)
        .self_signed();
    let key = &read_material(next.key_pem().as_bytes()).unwrap().keys[0];
    generate(
        Subject::Key(key),
        Usage::DaneEe,
        Selector::Spki,
        MatchingType::Sha256,
    )
    .unwrap()
    .to_string()
}

#[test]
fn t12_clean_current_plus_next_and_current_plus_issuer() {
    let pki = Pki::new(KeyAlg::EcdsaP256, "mx.example.test");
    let c = certs(&pki.full_chain_pem());
    let ee = rec(&c[0], Usage::DaneEe, Selector::Spki, MatchingType::Sha256);
    let ta = rec(&c[1], Usage::DaneTa, Selector::Spki, MatchingType::Sha256);
    let ch = [chain("fullchain.pem", &pki.full_chain_pem())];
    assert_eq!(
        rules(&lint(&zone(&[ee.clone(), next_key_record()]), &ch)),
        vec![]
    );
    assert_eq!(rules(&lint(&zone(&[ee.clone(), ta]), &ch)), vec![]);
    // Without chains, two records are enough to be quiet.
    assert_eq!(rules(&lint(&zone(&[ee, next_key_record()]), &[])), vec![]);
}

#[test]
fn t12_record_level_rules() {
    let d32 = "ab".repeat(32);
    let found = rules(&lint(
        &zone(&[
            format!("1 1 1 {d32}"),
            format!("5 1 1 {d32}"),
            "3 1 1 abcd".into(),
        ]),
        &[],
    ));
    assert!(found.contains(&(Rule::PkixUsage, Severity::Error)));
    assert!(found.contains(&(Rule::UnassignedField, Severity::Error)));
    assert!(found.contains(&(Rule::DigestLength, Severity::Error)));

    let pki = Pki::new(KeyAlg::EcdsaP256, "mx.example.test");
    let c = certs(&pki.full_chain_pem());
    let cert_ee = rec(&c[0], Usage::DaneEe, Selector::Cert, MatchingType::Sha256);
    let found = rules(&lint(&zone(&[cert_ee.clone(), next_key_record()]), &[]));
    assert_eq!(found, vec![(Rule::EeCertSelector, Severity::Warning)]);

    let only512 = rec(&c[0], Usage::DaneEe, Selector::Spki, MatchingType::Sha512);
    let found = rules(&lint(&zone(std::slice::from_ref(&only512)), &[]));
    assert!(
        found.contains(&(Rule::NoSha256, Severity::Warning)),
        "{found:?}"
    );
    // A SHA2-256 record of the same usage and selector beside it silences the rule.
    let found = rules(&lint(&zone(&[only512, next_key_record()]), &[]));
    assert!(
        !found.iter().any(|(r, _)| *r == Rule::NoSha256),
        "{found:?}"
    );

    let found = rules(&lint(&zone(&["3 1 0 3000".into(), next_key_record()]), &[]));
    assert!(
        found.contains(&(Rule::FullDataInvalid, Severity::Error)),
        "{found:?}"
    );
    let full_ok = rec(&c[0], Usage::DaneEe, Selector::Spki, MatchingType::Full);
    let found = rules(&lint(&zone(&[full_ok, next_key_record()]), &[]));
    assert!(
        !found.iter().any(|(r, _)| *r == Rule::FullDataInvalid),
        "{found:?}"
    );

    let found = rules(&lint(&zone(&[next_key_record(), next_key_record()]), &[]));
    assert!(
        found.contains(&(Rule::Duplicate, Severity::Warning)),
        "{found:?}"
    );
    assert!(
        found.contains(&(Rule::NoRollover, Severity::Warning)),
        "{found:?}"
    );

    let text = format!(
        "{OWNER} 86400 IN TLSA {}\n{OWNER} 1800 IN TLSA {}\n",
        next_key_record(),
        cert_ee
    );
    let found = rules(&lint(&parse_zone(&text, None).unwrap(), &[]));
    assert_eq!(
        found.iter().filter(|(r, _)| *r == Rule::TtlHigh).count(),
        1,
        "{found:?}"
    );

    let many: Vec<String> = (0..13u8)
        .map(|i| format!("3 1 1 {}", format!("{i:02x}").repeat(32)))
        .collect();
    assert!(rules(&lint(&zone(&many), &[])).contains(&(Rule::TooManyRecords, Severity::Warning)));
    let twelve = &many[..12];
    assert!(
        !rules(&lint(&zone(twelve), &[]))
            .iter()
            .any(|(r, _)| *r == Rule::TooManyRecords)
    );

    let bad_owner = parse_zone(
        &format!("mx.example.test. IN TLSA {}\n", next_key_record()),
        None,
    )
    .unwrap();
    assert!(rules(&lint(&bad_owner, &[])).contains(&(Rule::OwnerName, Severity::Warning)));
}

#[test]
fn t12_dual_algorithm_server_with_one_3_1_1_fails_for_some_senders() {
    let rsa = Pki::new(KeyAlg::Rsa2048, "mx.example.test");
    let ec = Pki::new(KeyAlg::EcdsaP256, "mx.example.test");
    let rsa_leaf = &certs(&rsa.leaf.pem())[0];
    let ec_leaf = &certs(&ec.leaf.pem())[0];
    let chains = [
        chain("rsa.pem", &rsa.leaf.pem()),
        chain("ecdsa.pem", &ec.leaf.pem()),
    ];
    let only_rsa = zone(&[
        rec(
            rsa_leaf,
            Usage::DaneEe,
            Selector::Spki,
            MatchingType::Sha256,
        ),
        next_key_record(),
    ]);
    let findings = lint(&only_rsa, &chains);
    let fails: Vec<_> = findings
        .iter()
        .filter(|f| f.rule == Rule::ChainFails)
        .collect();
    assert_eq!(
        fails.len(),
        2,
        "both sender kinds fail the ECDSA chain: {findings:?}"
    );
    assert!(
        fails
            .iter()
            .all(|f| f.severity == Severity::Error && f.message.contains("ecdsa.pem"))
    );
    let both = zone(&[
        rec(
            rsa_leaf,
            Usage::DaneEe,
            Selector::Spki,
            MatchingType::Sha256,
        ),
        rec(ec_leaf, Usage::DaneEe, Selector::Spki, MatchingType::Sha256),
        next_key_record(),
    ]);
    assert!(
        !lint(&both, &chains)
            .iter()
            .any(|f| f.rule == Rule::ChainFails)
    );
}

#[test]
fn t12_sha512_published_only_for_the_next_key_breaks_agile_senders() {
    let pki = Pki::new(KeyAlg::EcdsaP256, "mx.example.test");
    let leaf = &certs(&pki.leaf.pem())[0];
    let next = CertSpec::leaf(&["mx.example.test"])
        .key_slot(9)
        .self_signed();
    let key = &read_material(next.key_pem().as_bytes()).unwrap().keys[0];
    let next512 = generate(
        Subject::Key(key),
        Usage::DaneEe,
        Selector::Spki,
        MatchingType::Sha512,
    )
    .unwrap();
    let set = zone(&[
        rec(leaf, Usage::DaneEe, Selector::Spki, MatchingType::Sha256),
        next512.to_string(),
    ]);
    let findings = lint(&set, &[chain("leaf.pem", &pki.leaf.pem())]);
    let fails: Vec<_> = findings
        .iter()
        .filter(|f| f.rule == Rule::ChainFails)
        .collect();
    assert_eq!(fails.len(), 1, "{findings:?}");
    assert!(
        fails[0].message.contains("prefers SHA2-512"),
        "{}",
        fails[0].message
    );
    assert!(
        findings
            .iter()
            .any(|f| f.rule == Rule::CombinationUnmatched && f.message.contains("3 1 2"))
    );
}

#[test]
fn t12_anchor_not_sent_and_nothing_but_current() {
    let pki = Pki::new(KeyAlg::EcdsaP256, "mx.example.test");
    let c = certs(&pki.full_chain_pem());
    let ee = rec(&c[0], Usage::DaneEe, Selector::Spki, MatchingType::Sha256);
    let root_ta = rec(&c[2], Usage::DaneTa, Selector::Spki, MatchingType::Sha256);
    // The server sends leaf + intermediate only: the root's 2 1 1 can never match.
    let sent = format!("{}{}", pki.leaf.pem(), pki.intermediate.pem());
    let findings = rules(&lint(
        &zone(&[ee.clone(), root_ta.clone()]),
        &[chain("chain.pem", &sent)],
    ));
    assert!(
        findings.contains(&(Rule::AnchorNotSent, Severity::Warning)),
        "{findings:?}"
    );
    let findings = rules(&lint(
        &zone(&[ee.clone(), root_ta]),
        &[chain("full.pem", &pki.full_chain_pem())],
    ));
    assert!(
        !findings.iter().any(|(r, _)| *r == Rule::AnchorNotSent),
        "{findings:?}"
    );
    // Only the current key, even twice in different forms: no rollover possible.
    let ee512 = rec(&c[0], Usage::DaneEe, Selector::Spki, MatchingType::Sha512);
    let findings = rules(&lint(
        &zone(&[ee, ee512]),
        &[chain("full.pem", &pki.full_chain_pem())],
    ));
    assert!(
        findings.contains(&(Rule::NoRollover, Severity::Warning)),
        "{findings:?}"
    );
}

#[test]
fn every_lint_rule_has_an_id_explanation_and_reference() {
    let mut ids: Vec<&str> = Rule::ALL.iter().map(|r| r.id()).collect();
    for r in Rule::ALL {
        assert!(
            !r.explanation().is_empty()
                && (r.reference().contains("RFC") || r.reference().contains("how-to"))
        );
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), Rule::ALL.len(), "ids are unique");
}

#[test]
fn t12_generated_records_lint_clean() {
    let pki = Pki::new(KeyAlg::Rsa2048, "mx.example.test");
    let c = certs(&pki.full_chain_pem());
    let inputs = Inputs {
        leaves: vec![("leaf".into(), c[0].clone())],
        issuers: c[1..].to_vec(),
        next_keys: vec![],
    };
    let p = plan(&inputs, Preset::Auto, None).unwrap();
    let records: Vec<String> = p.records.iter().map(|g| g.record.to_string()).collect();
    let _: Vec<Tlsa> = records.iter().map(|r| r.parse().unwrap()).collect();
    assert_eq!(
        rules(&lint(
            &zone(&records),
            &[chain("full.pem", &pki.full_chain_pem())]
        )),
        vec![]
    );
}
