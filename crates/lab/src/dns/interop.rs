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

fn free_port() -> Result<u16, String> {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
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
