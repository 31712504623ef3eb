//! Arbitrary chains and TLSA records through the DANE matcher (`mxdane_tls::verify_chain`):
//! it must never panic, and it must never authenticate an empty chain.
//!
//! Input framing: the first 8 bytes are the verification time (big-endian seconds), then
//! chunks of `u16 length (big-endian) + bytes`; a chunk whose first byte is even is a TLSA
//! record in wire form (the rest of the chunk), otherwise a DER certificate (the rest).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mxdane_tls::{unix_time, verify_chain};
use mxdane_tlsa::{DnsName, Tlsa};

fuzz_target!(|data: &[u8]| {
    let Some((time, mut rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    let mut records = Vec::new();
    let mut chain = Vec::new();
    while let Some((len, tail)) = rest.split_first_chunk::<2>() {
        let len = usize::from(u16::from_be_bytes(*len)).min(tail.len());
        let (chunk, next) = tail.split_at(len);
        rest = next;
        match chunk.split_first() {
            Some((kind, body)) if kind % 2 == 0 => {
                if let Ok(r) = Tlsa::from_wire(body) {
                    records.push(r);
                }
            }
            Some((_, body)) => chain.push(body.to_vec().into()),
            None => {}
        }
    }
    let seconds = i64::from_be_bytes(*time).clamp(0, 253_402_300_799);
    let at = time::OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let names = [DnsName::parse("mx.example.test").expect("constant name")];
    let report = verify_chain(&chain, &records, &names, unix_time(at));
    assert_eq!(report.outcomes().len(), records.len());
    if chain.is_empty() {
        assert!(!report.is_authenticated());
    }
});
