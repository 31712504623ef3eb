//! Real DNS software serving a lab world: Knot (authoritative, the exported signed zones) and a
//! validating Unbound in front of it, both on loopback ports chosen at run time. For the
//! external-program tier; needs `knotd` and `unbound` on PATH. Both stop when this is dropped.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::message::{self, RawMessage};
use super::name::Name;
use super::rdata::rtype;
use super::server;
use super::world::World;

/// Knot and Unbound serving one world.
#[derive(Debug)]
pub struct KnotUnbound {
    dir: PathBuf,
    children: Vec<Child>,
    /// Where Knot answers (authoritative).
    pub knot: SocketAddr,
    /// Where Unbound answers (validating recursive).
    pub unbound: SocketAddr,
}

/// A port free for both UDP and TCP on 127.0.0.1, for a daemon to bind. It is taken below
/// Linux's ephemeral range (32768 and up), where the kernel never puts the local end of an
/// outgoing connection: a port picked from that range could be taken by another test's TCP
/// connection before the daemon binds it (seen as "address already in use" in CI).
pub fn free_port() -> Result<u16, String> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(7919)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
    for _ in 0..500 {
        let n = seed.wrapping_add(NEXT.fetch_add(7, Ordering::Relaxed));
        let port = u16::try_from(20_000 + n % 12_000).unwrap_or(20_000);
        let tcp = std::net::TcpListener::bind(("127.0.0.1", port));
        let udp = UdpSocket::bind(("127.0.0.1", port));
        if tcp.is_ok() && udp.is_ok() {
            return Ok(port);
        }
    }
    Err("no free port for both UDP and TCP in 20000-31999 on 127.0.0.1".into())
}

impl KnotUnbound {
    /// Exports `world` into a scratch directory named after `label` and starts both daemons;
    /// waits (at most 20 s each) until they answer.
    pub fn start(world: &World, label: &str) -> Result<Self, String> {
        let dir =
            std::env::temp_dir().join(format!("mxdane-interop-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (kp, up) = (free_port()?, free_port()?);
        let exported = world
            .export(&dir, kp, up)
            .map_err(|e| format!("export: {e}"))?;
        let spawn = |program: &str, args: &[&str], log: &str| -> Result<Child, String> {
            let log = std::fs::File::create(dir.join(log)).map_err(|e| e.to_string())?;
            Command::new(program)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .map_err(|e| format!("{program}: {e} (the external tier needs it; see .ci/run)"))
        };
        let mut this = Self {
            dir: dir.clone(),
            children: Vec::new(),
            knot: SocketAddr::from(([127, 0, 0, 1], kp)),
            unbound: SocketAddr::from(([127, 0, 0, 1], up)),
        };
        let conf = exported.knot_conf.display().to_string();
        this.children
            .push(spawn("knotd", &["-c", &conf], "knot.log")?);
        this.wait(this.knot, &Name::root(), "knot.log")?;
        let conf = exported.unbound_conf.display().to_string();
        this.children
            .push(spawn("unbound", &["-d", "-c", &conf], "unbound.log")?);
        this.wait(this.unbound, &Name::root(), "unbound.log")?;
        Ok(this)
    }

    fn wait(&self, addr: SocketAddr, name: &Name, log: &str) -> Result<(), String> {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if server::ask_with(addr, name, rtype::SOA, false, Duration::from_millis(300)).is_some()
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "no answer on {addr} after 20 s: {}",
            std::fs::read_to_string(self.dir.join(log)).unwrap_or_default()
        ))
    }

    /// Asks Unbound (RD, DO, CD clear: it validates).
    pub fn ask(&self, name: &Name, qtype: u16) -> Option<RawMessage> {
        let raw = server::ask_with(self.unbound, name, qtype, false, Duration::from_secs(10))?;
        message::parse_response(&raw).ok()
    }
}

/// The Unbound daemon validating what it gets from one forwarder (`forward-zone "."`), with the
/// lab world's trust anchor: for comparing our validating resolver with Unbound's AD bit on the
/// same (possibly forged) answers. Stops when dropped.
#[derive(Debug)]
pub struct UnboundForwarder {
    dir: PathBuf,
    child: Child,
    /// Where Unbound answers.
    pub addr: SocketAddr,
}

impl UnboundForwarder {
    /// Starts Unbound on a free loopback port, forwarding everything to `upstream`; waits (at
    /// most 20 s) until it answers.
    pub fn start(world: &World, upstream: SocketAddr, label: &str) -> Result<Self, String> {
        let dir =
            std::env::temp_dir().join(format!("mxdane-unbound-fwd-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let port = free_port()?;
        let ta = dir.join("trust-anchor");
        std::fs::write(&ta, world.trust_anchor_text()).map_err(|e| e.to_string())?;
        let conf = dir.join("unbound.conf");
        std::fs::write(
            &conf,
            format!(
                "server:\n    interface: 127.0.0.1@{port}\n    port: {port}\n\
                 \x20   do-ip6: no\n    do-not-query-localhost: no\n    username: \"\"\n    chroot: \"\"\n\
                 \x20   directory: \"{dir}\"\n    pidfile: \"{dir}/unbound.pid\"\n    use-syslog: no\n    logfile: \"\"\n\
                 \x20   verbosity: 1\n    val-log-level: 2\n    trust-anchor-file: \"{ta}\"\n\
                 \x20   module-config: \"validator iterator\"\n    aggressive-nsec: no\n\
                 \x20   local-zone: \"test.\" nodefault\n    local-zone: \"invalid.\" nodefault\n\
                 remote-control:\n    control-enable: no\n\
                 forward-zone:\n    name: \".\"\n    forward-addr: {ip}@{up}\n",
                dir = dir.display(),
                ta = ta.display(),
                ip = upstream.ip(),
                up = upstream.port(),
            ),
        )
        .map_err(|e| e.to_string())?;
        let log = std::fs::File::create(dir.join("unbound.log")).map_err(|e| e.to_string())?;
        let child = Command::new("unbound")
            .args(["-d", "-c", &conf.display().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("unbound: {e} (the external tier needs it; see .ci/run)"))?;
        let this = Self {
            dir,
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            // Any answer (even SERVFAIL from a forger) shows that it is up.
            if server::ask_with(
                this.addr,
                &Name::root(),
                rtype::SOA,
                true,
                Duration::from_millis(300),
            )
            .is_some()
            {
                return Ok(this);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "unbound: no answer on {} after 20 s: {}",
            this.addr,
            std::fs::read_to_string(this.dir.join("unbound.log")).unwrap_or_default()
        ))
    }
}

impl Drop for UnboundForwarder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for KnotUnbound {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Knot as a dynamic zone's primary (taking TSIG-signed updates and signing them with the
/// lab's own keys for the zone, imported with `keymgr import-pem`, so the lab parent's DS
/// still holds) and as its secondary (NOTIFY and zone transfer with the same TSIG key). Needs
/// `knotd`, `knotc` and `keymgr`; both daemons stop when this is dropped.
#[derive(Debug)]
pub struct KnotPair {
    dir: PathBuf,
    children: Vec<Child>,
}

impl Drop for KnotPair {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl KnotPair {
    /// Starts the pair for `apex` (a signed ECDSA zone of `world` with two servers) in `dir`:
    /// the primary on `primary`, the secondary on `secondary`, the zone holding SOA, NS (the
    /// world's ns1/ns2 names and addresses) and `records` (zone-file lines). Waits until both
    /// serve it (at most 20 s).
    pub fn start(
        world: &World,
        apex: &str,
        dir: &std::path::Path,
        (primary, secondary): (SocketAddr, SocketAddr),
        (key_name, secret): (&str, &str),
        records: &str,
    ) -> Result<Self, String> {
        let zi = world
            .zones()
            .iter()
            .position(|z| z.apex.as_str() == apex)
            .ok_or_else(|| format!("no zone {apex}"))?;
        let (ns1, ns2) = (
            super::world::ns_address(zi, 0),
            super::world::ns_address(zi, 1),
        );
        let io = |e: std::io::Error| e.to_string();
        std::fs::write(
            dir.join("dynamic.zone"),
            format!(
                "$ORIGIN {apex}\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 300\n@ NS ns1\n@ NS ns2\nns1 A {ns1}\nns2 A {ns2}\n{records}"
            ),
        )
        .map_err(io)?;
        let addr = |a: SocketAddr| format!("{}@{}", a.ip(), a.port());
        let common = |role: &str, listen: SocketAddr| {
            format!(
                "server:\n    listen: {l}\n    rundir: {d}/{role}\ndatabase:\n    storage: {d}/{role}\nlog:\n  - target: stderr\n    any: info\nkey:\n  - id: {key_name}\n    algorithm: hmac-sha256\n    secret: {secret}\nremote:\n  - id: primary\n    address: {p}\n    key: {key_name}\n  - id: secondary\n    address: {s}\n    key: {key_name}\nacl:\n  - id: tsig\n    key: {key_name}\n    action: [update, transfer, notify]\n",
                l = addr(listen),
                d = dir.display(),
                p = addr(primary),
                s = addr(secondary),
            )
        };
        for role in ["primary", "secondary"] {
            std::fs::create_dir_all(dir.join(role)).map_err(io)?;
        }
        std::fs::write(
            dir.join("primary.conf"),
            common("primary", primary)
                + &format!(
                    "policy:\n  - id: manual\n    manual: on\nzone:\n  - domain: {apex}\n    file: {d}/dynamic.zone\n    dnssec-signing: on\n    dnssec-policy: manual\n    notify: secondary\n    acl: tsig\n    zonefile-sync: -1\n    zonefile-load: difference-no-serial\n    journal-content: all\n",
                    d = dir.display()
                ),
        )
        .map_err(io)?;
        std::fs::write(
            dir.join("secondary.conf"),
            common("secondary", secondary)
                + &format!(
                    "zone:\n  - domain: {apex}\n    master: primary\n    acl: tsig\n    zonefile-sync: -1\n"
                ),
        )
        .map_err(io)?;
        for (ksk, file) in [(true, "ksk.pem"), (false, "zsk.pem")] {
            let key = super::keys::cached_key(super::keys::Algorithm::EcdsaP256, ksk, apex);
            let pem = key
                .private_pem()
                .ok_or("the zone's keys cannot be exported")?;
            std::fs::write(dir.join(file), pem).map_err(io)?;
            let out = Command::new("keymgr")
                .arg("-c")
                .arg(dir.join("primary.conf"))
                .args([apex, "import-pem"])
                .arg(dir.join(file))
                .args([
                    "algorithm=13",
                    if ksk { "ksk=yes" } else { "ksk=no" },
                    if ksk { "zsk=no" } else { "zsk=yes" },
                ])
                .output()
                .map_err(|e| format!("keymgr: {e} (the external tier needs it; see .ci/run)"))?;
            if !out.status.success() {
                return Err(format!(
                    "keymgr import-pem: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        let mut this = Self {
            dir: dir.to_path_buf(),
            children: Vec::new(),
        };
        for role in ["primary", "secondary"] {
            let log = std::fs::File::create(dir.join(format!("{role}.log"))).map_err(io)?;
            this.children.push(
                Command::new("knotd")
                    .arg("-c")
                    .arg(dir.join(format!("{role}.conf")))
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .map_err(|e| format!("knotd: {e} (the external tier needs it; see .ci/run)"))?,
            );
        }
        let apex_name = Name::parse(apex);
        for (role, at) in [("primary", primary), ("secondary", secondary)] {
            let started = Instant::now();
            loop {
                let served = server::ask_with(
                    at,
                    &apex_name,
                    rtype::SOA,
                    false,
                    Duration::from_millis(300),
                )
                .and_then(|b| message::parse_response(&b).ok())
                .is_some_and(|m: RawMessage| !m.answer.is_empty());
                if served {
                    break;
                }
                if started.elapsed() > Duration::from_secs(20) {
                    return Err(format!(
                        "knotd ({role}) does not serve {apex}: {}",
                        std::fs::read_to_string(dir.join(format!("{role}.log")))
                            .unwrap_or_default()
                    ));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(this)
    }

    /// Runs `knotc` against the primary or the secondary (`zone-freeze`, `zone-thaw`, ...).
    pub fn knotc(&self, role: &str, args: &[&str]) -> Result<(), String> {
        let out = Command::new("knotc")
            .arg("-c")
            .arg(self.dir.join(format!("{role}.conf")))
            .args(args)
            .output()
            .map_err(|e| format!("knotc: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "knotc {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}
