//! Writing a world out for real DNS software: signed zone files (faults baked in), DNSKEY files,
//! the trust anchor (DS and DNSKEY forms), root hints, and configuration for Knot (one server
//! for every zone) and Unbound (validating, with a stub zone per lab zone so that it reaches
//! Knot on a loopback port).

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use super::world::World;

/// Where the files of an export are.
#[derive(Clone, Debug)]
pub struct Exported {
    /// The directory.
    pub dir: PathBuf,
    /// `knot.conf`.
    pub knot_conf: PathBuf,
    /// `unbound.conf`.
    pub unbound_conf: PathBuf,
    /// `trust-anchor.ds` (DS form), also `trust-anchor.dnskey`.
    pub trust_anchor: PathBuf,
    /// Zone files: (apex, server index, path).
    pub zone_files: Vec<(String, usize, PathBuf)>,
}

impl World {
    /// Writes the world into `dir` (created if missing). Knot will listen on
    /// `127.0.0.1@knot_port` and Unbound on `127.0.0.1@unbound_port`. Zones with several
    /// servers are exported with the first server's copy for Knot, and every copy as a file.
    pub fn export(&self, dir: &Path, knot_port: u16, unbound_port: u16) -> io::Result<Exported> {
        std::fs::create_dir_all(dir.join("zones"))?;
        std::fs::create_dir_all(dir.join("keys"))?;
        std::fs::create_dir_all(dir.join("knot-storage"))?;
        let mut zone_files = Vec::new();
        let mut knot_zones = String::new();
        let mut stubs = String::new();
        let mut local_zones = String::new();
        for z in self.zones() {
            let label = if z.apex.is_root() {
                "root".to_owned()
            } else {
                z.apex.to_string().trim_end_matches('.').to_owned()
            };
            for (i, copy) in z.servers.iter().enumerate() {
                let file = if i == 0 {
                    dir.join("zones").join(format!("{label}.zone"))
                } else {
                    dir.join("zones")
                        .join(format!("{label}.server{}.zone", i + 1))
                };
                let mut text = format!("; lab zone {} (server {})\n", z.apex, i + 1);
                for r in copy.all_records() {
                    let _ = writeln!(text, "{r}");
                }
                std::fs::write(&file, text)?;
                zone_files.push((z.apex.to_string(), i, file.clone()));
                if i == 0 {
                    let _ = writeln!(
                        knot_zones,
                        "  - domain: \"{}\"\n    file: \"{}\"",
                        z.apex,
                        file.display()
                    );
                }
            }
            let mut keys = String::new();
            if let Some(apex) = z.servers[0].nodes.get(&z.apex)
                && let Some(rrs) = apex.rrsets.get(&super::rdata::rtype::DNSKEY)
            {
                for r in rrs {
                    let _ = writeln!(keys, "{r}");
                }
            }
            std::fs::write(dir.join("keys").join(format!("{label}.dnskey")), keys)?;
            let _ = writeln!(
                stubs,
                "stub-zone:\n    name: \"{}\"\n    stub-addr: 127.0.0.1@{knot_port}\n    stub-first: no",
                z.apex
            );
            // Unbound answers some special-use TLDs (test., invalid., ...) itself by default.
            if z.apex.len() == 1 {
                let _ = writeln!(local_zones, "    local-zone: \"{}\" nodefault", z.apex);
            }
        }
        let trust_anchor = dir.join("trust-anchor.ds");
        let text = self.trust_anchor_text();
        let ds: String = text
            .lines()
            .filter(|l| l.contains(" DS "))
            .map(|l| format!("{l}\n"))
            .collect();
        let dnskey: String = text
            .lines()
            .filter(|l| l.contains(" DNSKEY "))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&trust_anchor, ds)?;
        std::fs::write(dir.join("trust-anchor.dnskey"), dnskey)?;
        std::fs::write(
            dir.join("root.hints"),
            ". 3600 IN NS ns1.\nns1. 3600 IN A 127.0.0.1\n",
        )?;
        let knot_conf = dir.join("knot.conf");
        std::fs::write(
            &knot_conf,
            format!(
                "# Knot DNS serving the lab world as signed (no signing by Knot).\n\
                 server:\n  listen: 127.0.0.1@{knot_port}\n  rundir: \"{dir}\"\n\
                 database:\n  storage: \"{storage}\"\n\
                 log:\n  - target: stderr\n    any: warning\n\
                 template:\n  - id: default\n    storage: \"{dir}/zones\"\n    semantic-checks: off\n    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n\
                 zone:\n{knot_zones}",
                dir = dir.display(),
                storage = dir.join("knot-storage").display(),
            ),
        )?;
        let unbound_conf = dir.join("unbound.conf");
        std::fs::write(
            &unbound_conf,
            format!(
                "# Unbound validating the lab world; every lab zone is a stub zone on Knot's port.\n\
                 server:\n    interface: 127.0.0.1@{unbound_port}\n    port: {unbound_port}\n\
                 \x20   do-ip6: no\n    do-not-query-localhost: no\n    username: \"\"\n    chroot: \"\"\n\
                 \x20   directory: \"{dir}\"\n    pidfile: \"{dir}/unbound.pid\"\n    use-syslog: no\n    logfile: \"\"\n\
                 \x20   verbosity: 1\n    val-log-level: 2\n\
                 \x20   trust-anchor-file: \"{ta}\"\n    module-config: \"validator iterator\"\n\
                 \x20   qname-minimisation: no\n    aggressive-nsec: no\n    harden-referral-path: no\n\
                 \x20   infra-keep-probing: yes\n    infra-host-ttl: 1\n    outbound-msg-retry: 1\n\
                 {local_zones}\
                 # root.hints in this directory names the root server; the stub zones below\n\
                 # reach it (and every other lab zone) on Knot's port instead.\n\
                 remote-control:\n    control-enable: no\n\
                 {stubs}",
                dir = dir.display(),
                ta = trust_anchor.display(),
            ),
        )?;
        Ok(Exported {
            dir: dir.to_path_buf(),
            knot_conf,
            unbound_conf,
            trust_anchor,
            zone_files,
        })
    }
}
