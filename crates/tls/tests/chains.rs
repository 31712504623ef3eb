//! Generated chains judged offline with `verify_chain` (issue 5, "Done when": generated-chain
//! tests for RSA-2048, ECDSA P-256 and P-384, Ed25519). CHECKLIST T-04 to T-10.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use mxdane_lab::certs::KeyAlg;
use mxdane_tls::{unix_time, verify_chain};

#[test]
fn t04_to_t09_generated_chains_offline() {
    let mut failures = Vec::new();
    let mut count = 0;
    for alg in KeyAlg::ALL {
        for case in common::cases(alg) {
            let chain: Vec<_> = case.chain_der().into_iter().map(Into::into).collect();
            let report = verify_chain(
                &chain,
                &case.records,
                &case.names,
                unix_time(time::OffsetDateTime::now_utc()),
            );
            count += 1;
            failures.extend(case.check(&report));
        }
    }
    println!("{count} cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// T-07: a chain valid today fails once its leaf has expired; DANE-EE does not care.
#[test]
fn t07_time_is_an_input() {
    let pki = mxdane_lab::certs::Pki::new(KeyAlg::EcdsaP256, common::HOST);
    let chain: Vec<_> = [&pki.leaf, &pki.intermediate]
        .iter()
        .map(|c| c.der().to_vec().into())
        .collect();
    let names = common::names(&[common::HOST]);
    let ta = [common::rec(&pki.intermediate, "2 1 1")];
    let ee = [common::rec(&pki.leaf, "3 1 1")];
    let later = unix_time(time::OffsetDateTime::now_utc() + time::Duration::days(3650));
    let earlier = unix_time(time::OffsetDateTime::now_utc() - time::Duration::days(30));
    for at in [later, earlier] {
        assert!(!verify_chain(&chain, &ta, &names, at).is_authenticated());
        assert!(verify_chain(&chain, &ee, &names, at).is_authenticated());
    }
}

#[test]
fn empty_or_garbage_chains_authenticate_nothing() {
    let names = common::names(&[common::HOST]);
    let records = [common::bogus("3 1 1"), "3 0 0 00".parse().unwrap()];
    let now = unix_time(time::OffsetDateTime::now_utc());
    let empty = verify_chain(&[], &records, &names, now);
    assert!(!empty.is_authenticated());
    assert!(empty.outcomes().iter().all(|o| o.kind() == "bad-chain"));
    // "3 0 0 00": Full(0) data equal to the garbage "certificate" itself must not match.
    let garbage = verify_chain(&[vec![0u8].into()], &records, &names, now);
    assert!(!garbage.is_authenticated());
}

/// Issue 26, P-02: the issuer is the certificate whose key signed the leaf. A second CA with
/// the very same subject name ("Lab Issuer") and another key did not sign it, nor did the
/// root. Breaks if `issued_by` compares names only.
#[test]
fn p02_the_issuer_is_the_signer_not_a_namesake() {
    use mxdane_lab::certs::{CertSpec, Pki};
    for alg in KeyAlg::ALL {
        let pki = Pki::new(alg, "mx.example.test");
        let twin = CertSpec::ca("Lab Issuer")
            .alg(alg)
            .key_slot(150)
            .signed_by(&pki.root);
        let der = |c: &mxdane_lab::certs::TestCert| c.der().to_vec().into();
        let leaf = der(&pki.leaf);
        assert!(
            mxdane_tls::issued_by(&leaf, &der(&pki.intermediate)),
            "{alg:?}"
        );
        assert!(!mxdane_tls::issued_by(&leaf, &der(&twin)), "{alg:?}");
        assert!(!mxdane_tls::issued_by(&leaf, &der(&pki.root)), "{alg:?}");
        assert!(!mxdane_tls::issued_by(&leaf, &vec![0u8; 3].into()));
    }
}
