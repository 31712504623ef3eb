//! Feeds arbitrary bytes to every TLSA-crate parser: presentation form, wire form, zone text,
//! PEM/DER certificate and key input, and the linter over whatever parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mxdane_tlsa::lint::{Chain, lint};
use mxdane_tlsa::{Tlsa, parse_zone, read_material};

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = Tlsa::from_wire(data) {
        assert_eq!(Tlsa::from_wire(&r.to_wire()).ok(), Some(r.clone()));
        let _ = r.usability();
    }
    let material = read_material(data).ok();
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(r) = text.parse::<Tlsa>() {
            assert_eq!(r.to_string().parse::<Tlsa>().ok(), Some(r));
        }
        if let Ok(records) = parse_zone(text, None) {
            let chains: Vec<Chain> = material
                .into_iter()
                .map(|m| Chain { label: "fuzz".into(), certificates: m.certificates })
                .collect();
            let _ = lint(&records, &chains);
        }
    }
});
