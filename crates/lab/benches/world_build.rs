//! How long building a signed world takes (issue 3: "a dozen zones well under a second").
//! `cargo bench -p mxdane-lab --bench world_build` prints the figures; no timing is asserted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use mxdane_lab::dns::fixtures;

fn main() {
    let first = Instant::now();
    let world = fixtures::every_knob();
    let cold = first.elapsed();
    let zones = world.zones().len();
    let records: usize = world
        .zones()
        .iter()
        .flat_map(|z| z.servers.iter())
        .map(|s| s.all_records().len())
        .sum();
    let runs = 20;
    let again = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(fixtures::every_knob());
    }
    let warm = again.elapsed() / runs;
    println!(
        "every_knob world: {zones} zones, {records} records; first build (keys generated, one RSA-2048 KSK/ZSK pair) {cold:?}, rebuild with cached keys {warm:?} (mean of {runs})"
    );
}
