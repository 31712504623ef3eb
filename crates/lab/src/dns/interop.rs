//! Real DNS software serving a lab world: Knot (authoritative, the exported signed zones) and a
//! validating Unbound in front of it, both on loopback ports chosen at run time. For the
//! external-program tier; needs `knotd` and `unbound` on PATH. Both stop when this is dropped.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::message::{self, ParsedResponse};
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
    pub fn ask(&self, name: &Name, qtype: u16) -> Option<ParsedResponse> {
        let raw = server::ask_with(self.unbound, name, qtype, false, Duration::from_secs(10))?;
        message::parse_response(&raw).ok()
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
