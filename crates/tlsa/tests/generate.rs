//! T-11: generated association data equals what the seed how-to's openssl pipeline computes:
//! SHA-256/512 over the DER SubjectPublicKeyInfo (selector 1) and over the DER certificate
//! (selector 0). The SPKI is taken from rcgen, which encodes it independently of our parser.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_lc_rs::digest;
use mxdane_lab::certs::{CertSpec, KeyAlg, Pki};
use mxdane_tlsa::generate::{Inputs, Preset, Role, plan};
use mxdane_tlsa::{MatchingType, Selector, Subject, Usage, association_data, read_material};

fn sha(alg: &'static digest::Algorithm, data: &[u8]) -> Vec<u8> {
    digest::digest(alg, data).as_ref().to_vec()
}

#[test]
fn t11_association_data_for_every_key_type() {
    for alg in KeyAlg::ALL {
        let pki = Pki::new(alg, "mx.example.test");
        let cert = &read_material(pki.leaf.pem().as_bytes())
            .unwrap()
            .certificates[0];
        let spki = pki.leaf.spki_der();
        assert_eq!(
            cert.spki_der(),
            spki.as_slice(),
            "{alg:?}: SPKI extracted from the certificate"
        );
        let subj = Subject::Certificate(cert);
        assert_eq!(
            association_data(subj, Selector::Spki, MatchingType::Sha256).unwrap(),
            sha(&digest::SHA256, &spki)
        );
        assert_eq!(
            association_data(subj, Selector::Spki, MatchingType::Sha512).unwrap(),
            sha(&digest::SHA512, &spki)
        );
        assert_eq!(
            association_data(subj, Selector::Spki, MatchingType::Full).unwrap(),
            spki
        );
        assert_eq!(
            association_data(subj, Selector::Cert, MatchingType::Sha256).unwrap(),
            sha(&digest::SHA256, pki.leaf.der())
        );
        assert_eq!(
            association_data(subj, Selector::Cert, MatchingType::Sha512).unwrap(),
            sha(&digest::SHA512, pki.leaf.der())
        );
        assert_eq!(
            association_data(subj, Selector::Cert, MatchingType::Full).unwrap(),
            pki.leaf.der()
        );

        // The private key (PKCS#8, PEM and DER) yields the record of its public half.
        for key_input in [pki.leaf.key_pem().into_bytes(), pki.leaf.key_der()] {
            let keys = read_material(&key_input).unwrap().keys;
            assert_eq!(keys.len(), 1);
            assert_eq!(
                keys[0].spki_der(),
                spki.as_slice(),
                "{alg:?}: public half of the private key"
            );
            assert_eq!(keys[0].key_type(), cert.key_type());
            // A bare key has no certificate for selector 0.
            assert_eq!(
                association_data(Subject::Key(&keys[0]), Selector::Cert, MatchingType::Sha256),
                None
            );
        }
    }
}

#[test]
fn t11_chain_files_and_der_input() {
    let pki = Pki::new(KeyAlg::EcdsaP384, "mx.example.test");
    let m = read_material(pki.full_chain_pem().as_bytes()).unwrap();
    assert_eq!(m.certificates.len(), 3);
    assert_eq!(m.certificates[1].subject(), "CN=Lab Issuer");
    assert!(m.certificates[1].is_ca());
    let der = read_material(pki.leaf.der()).unwrap();
    assert_eq!(der.certificates[0], m.certificates[0]);
}

fn inputs(pki: &Pki, issuer: bool, next: Option<KeyAlg>) -> Inputs {
    let certs = read_material(pki.full_chain_pem().as_bytes())
        .unwrap()
        .certificates;
    let mut inputs = Inputs {
        leaves: vec![("leaf".into(), certs[0].clone())],
        ..Inputs::default()
    };
    if issuer {
        inputs.issuers = certs[1..].to_vec();
    }
    if let Some(alg) = next {
        let next = CertSpec::leaf(&["mx.example.test"])
            .alg(alg)
            .key_slot(7)
            .self_signed();
        inputs.next_keys = read_material(next.key_pem().as_bytes())
            .unwrap()
            .keys
            .into_iter()
            .map(|k| ("next".into(), k))
            .collect();
    }
    inputs
}

#[test]
fn t11_presets_current_next_and_current_issuer() {
    let pki = Pki::new(KeyAlg::EcdsaP256, "mx.example.test");
    let roles = |p: &mxdane_tlsa::generate::Plan| {
        p.records
            .iter()
            .map(|g| (g.role, g.record.params()))
            .collect::<Vec<_>>()
    };

    let p = plan(
        &inputs(&pki, true, Some(KeyAlg::EcdsaP256)),
        Preset::Auto,
        None,
    )
    .unwrap();
    assert_eq!(
        roles(&p),
        vec![(Role::Current, (3, 1, 1)), (Role::Next, (3, 1, 1))]
    );
    let p = plan(&inputs(&pki, true, None), Preset::Auto, None).unwrap();
    assert_eq!(
        roles(&p),
        vec![(Role::Current, (3, 1, 1)), (Role::Issuer, (2, 1, 1))]
    );
    // The issuer record pins the intermediate (depth 1), not the root.
    let ica = &read_material(pki.intermediate.pem().as_bytes())
        .unwrap()
        .certificates[0];
    assert!(p.records[1].record.matches(Subject::Certificate(ica)));
    let p = plan(&inputs(&pki, false, None), Preset::Auto, None).unwrap();
    assert_eq!(roles(&p), vec![(Role::Current, (3, 1, 1))]);
    assert!(
        p.notes.iter().any(|n| n.contains("no safe rollover")),
        "{:?}",
        p.notes
    );

    assert!(plan(&inputs(&pki, false, None), Preset::CurrentNext, None).is_err());
    assert!(plan(&inputs(&pki, false, None), Preset::CurrentIssuer, None).is_err());

    let variants = [
        (Usage::DaneEe, Selector::Spki, MatchingType::Sha512),
        (Usage::DaneEe, Selector::Cert, MatchingType::Sha256),
        (Usage::DaneTa, Selector::Cert, MatchingType::Sha256),
    ];
    let p = plan(
        &inputs(&pki, true, Some(KeyAlg::Rsa2048)),
        Preset::Auto,
        Some(&variants),
    )
    .unwrap();
    assert_eq!(
        roles(&p),
        vec![
            (Role::Current, (3, 1, 2)),
            (Role::Current, (3, 0, 1)),
            (Role::Next, (3, 1, 2)),
            (Role::Issuer, (2, 0, 1))
        ]
    );
    assert!(
        p.notes.iter().any(|n| n.contains("selector 0")),
        "{:?}",
        p.notes
    );
    let pkix = [(Usage::PkixEe, Selector::Spki, MatchingType::Sha256)];
    assert!(plan(&inputs(&pki, true, None), Preset::Auto, Some(&pkix)).is_err());
}

#[test]
fn t11_current_key_given_as_next_key_is_not_a_rollover() {
    let pki = Pki::new(KeyAlg::EcdsaP256, "mx.example.test");
    let mut i = inputs(&pki, false, None);
    i.next_keys = read_material(pki.leaf.key_pem().as_bytes())
        .unwrap()
        .keys
        .into_iter()
        .map(|k| ("cur.key".into(), k))
        .collect();
    let p = plan(&i, Preset::Auto, None).unwrap();
    assert_eq!(p.records.len(), 1);
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("cur.key holds the key of a current certificate")),
        "{:?}",
        p.notes
    );
}

fn certs_of(pems: &[String]) -> Vec<mxdane_tlsa::Certificate> {
    read_material(pems.concat().as_bytes())
        .unwrap()
        .certificates
}

// Issue 13: the "current" certificate is found by basic constraints, not by its place in the
// file; a chain file of CA certificates is refused, never pinned as the current `3 1 1`.
#[test]
fn t11_the_leaf_is_found_in_any_order_and_a_ca_is_never_current() {
    use mxdane_tlsa::generate::split_leaf;
    let pki = Pki::new(KeyAlg::EcdsaP256, "mx.example.test");
    let (leaf, root, inter) = (pki.leaf.pem(), pki.root.pem(), pki.intermediate.pem());
    for order in [
        vec![leaf.clone(), inter.clone(), root.clone()],
        vec![root.clone(), inter.clone(), leaf.clone()],
        vec![inter.clone(), leaf.clone()],
    ] {
        let (current, issuers) = split_leaf(certs_of(&order)).unwrap();
        assert_eq!(current.spki_der(), pki.leaf.spki_der().as_slice());
        assert_eq!(issuers.len(), order.len() - 1);
        assert!(issuers.iter().all(|c| c.is_ca()));
    }
    // certbot's chain.pem (CA certificates only), or the intermediate alone: refused.
    for chain in [vec![inter.clone(), root.clone()], vec![inter.clone()]] {
        let e = split_leaf(certs_of(&chain)).unwrap_err();
        assert!(e.contains("only CA certificates"), "{e}");
    }
    // Two server certificates in one file: refused.
    let other = CertSpec::leaf(&["other.example.test"])
        .key_slot(33)
        .signed_by(&pki.intermediate);
    let e = split_leaf(certs_of(&[leaf.clone(), other.pem()])).unwrap_err();
    assert!(e.contains("2 end-entity certificates"), "{e}");
    // A lone self-signed certificate, even one marked CA (openssl req -x509 does that), is
    // the server's own: DANE-EE with a self-signed certificate is common.
    let selfsigned = CertSpec::ca("mx.example.test").key_slot(34).self_signed();
    let (current, issuers) = split_leaf(certs_of(&[selfsigned.pem()])).unwrap();
    assert!(current.is_ca() && issuers.is_empty());
}
