//! Property tests of the matcher on hostile input (the fuzz target in fuzz/ explores further):
//! no panic on arbitrary bytes, and no single-byte change to a leaf survives authentication.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::OnceLock;

use mxdane_lab::certs::{KeyAlg, Pki};
use mxdane_tls::{unix_time, verify_chain};
use mxdane_tlsa::Tlsa;
use proptest::prelude::*;

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| Pki::new(KeyAlg::EcdsaP256, common::HOST))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    // T-06/T-07: change one byte of the leaf anywhere; neither a `3 0 1` of the original leaf
    // nor a `2 1 1` of its issuer may authenticate the result.
    #[test]
    fn tampered_leaf_never_authenticates(pos in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let p = pki();
        let mut leaf = p.leaf.der().to_vec();
        let i = pos.index(leaf.len());
        leaf[i] ^= xor;
        let chain = vec![leaf.into(), p.intermediate.der().to_vec().into()];
        let records = [common::rec(&p.leaf, "3 0 1"), common::rec(&p.intermediate, "2 1 1")];
        let report = verify_chain(&chain, &records, &common::names(&[common::HOST]),
            unix_time(time::OffsetDateTime::now_utc()));
        prop_assert!(!report.is_authenticated(), "byte {i} ^ {xor}: {:?}", report.outcomes());
    }

    // Arbitrary chains and records: no panic, one outcome per record.
    #[test]
    fn arbitrary_bytes_do_not_panic(
        chain in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..4),
        records in prop::collection::vec(prop::collection::vec(any::<u8>(), 3..70), 0..4),
    ) {
        let records: Vec<Tlsa> = records.iter().filter_map(|r| Tlsa::from_wire(r).ok()).collect();
        let chain: Vec<_> = chain.into_iter().map(Into::into).collect();
        let report = verify_chain(&chain, &records, &common::names(&[common::HOST]),
            unix_time(time::OffsetDateTime::now_utc()));
        prop_assert_eq!(report.outcomes().len(), records.len());
        prop_assert!(!report.is_authenticated());
    }
}
