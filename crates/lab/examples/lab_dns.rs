//! Serves the every-knob world in-process, or exports it: a developer's probe.
//! `cargo run -p mxdane-lab --example lab_dns -- serve` or `-- export DIR KNOT_PORT UNBOUND_PORT`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let started = std::time::Instant::now();
    let world = Arc::new(mxdane_lab::dns::fixtures::every_knob());
    eprintln!(
        "built {} zones in {:?}",
        world.zones().len(),
        started.elapsed()
    );
    match args.get(1).map(String::as_str) {
        Some("export") => {
            let e = world
                .export(
                    std::path::Path::new(&args[2]),
                    args[3].parse().unwrap(),
                    args[4].parse().unwrap(),
                )
                .unwrap();
            println!("{}", e.dir.display());
        }
        _ => {
            let server = mxdane_lab::dns::server::DnsServer::recursive(world.clone()).unwrap();
            std::fs::write("/tmp/lab-ta.ds", world.trust_anchor_text()).unwrap();
            println!("{}", server.addr());
            std::thread::sleep(std::time::Duration::from_secs(
                args.get(2).and_then(|s| s.parse().ok()).unwrap_or(60),
            ));
        }
    }
}
