//! T-01, T-02: property tests for the presentation and wire round trips, and for parser
//! robustness on arbitrary input.
#![allow(clippy::unwrap_used)]

use mxdane_tlsa::{Tlsa, parse_zone, read_material};
use proptest::prelude::*;

proptest! {
    #[test]
    fn presentation_round_trip(u: u8, s: u8, m: u8, data in proptest::collection::vec(any::<u8>(), 1..300)) {
        let r = Tlsa::new(u.into(), s.into(), m.into(), data);
        let text = r.to_string();
        prop_assert_eq!(text.parse::<Tlsa>().unwrap(), r.clone());
        prop_assert_eq!(Tlsa::from_wire(&r.to_wire()).unwrap(), r);
    }

    #[test]
    fn wire_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        match Tlsa::from_wire(&bytes) {
            Ok(r) => prop_assert_eq!(r.to_wire(), bytes),
            Err(_) => prop_assert!(bytes.len() < 3),
        }
    }

    #[test]
    fn parsers_never_panic(text in "\\PC{0,200}", bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = text.parse::<Tlsa>();
        let _ = parse_zone(&text, None);
        let _ = read_material(&bytes);
        let _ = read_material(text.as_bytes());
    }
}
