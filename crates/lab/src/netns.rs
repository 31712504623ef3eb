//! Network namespaces for the interop tier and the benchmarks that measure real third-party
//! programs (posttls-finger, Unbound, Postfix): inside one, the lab can take port 53 of
//! 127.0.0.1 and port 25 of any address, and programs that read /etc/resolv.conf read the
//! namespace's own (`/etc/netns/NAME/resolv.conf`, pointing at 127.0.0.1). Needs root and
//! `ip` (iproute2); both the namespace and its resolv.conf are deleted on drop, with every
//! process still inside.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `cmd` with `sh -c`.
pub fn sh(cmd: &str) -> std::io::Result<Output> {
    Command::new("sh").arg("-c").arg(cmd).output()
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    sh("id -u").is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The programs of `programs` that are not installed.
pub fn missing(programs: &[&str]) -> Vec<String> {
    programs
        .iter()
        .filter(|p| !sh(&format!("command -v {p}")).is_ok_and(|o| o.status.success()))
        .map(|p| (*p).to_owned())
        .collect()
}

/// A network namespace of our own, deleted (with its processes) on drop.
pub struct Namespace {
    name: String,
}

impl Namespace {
    /// Creates `mxdane-TAG-PID` with a resolv.conf naming 127.0.0.1. `tag` is cut to 8
    /// characters (namespace names are short).
    pub fn create(tag: &str) -> Result<Self, String> {
        let tag: String = tag.chars().take(8).collect();
        let name = format!("mxdane-{tag}-{}", std::process::id());
        let out = sh(&format!("ip netns add {name}")).map_err(|e| format!("ip: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "ip netns add {name}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let this = Self { name };
        let dir = format!("/etc/netns/{}", this.name);
        std::fs::create_dir_all(&dir)
            .and_then(|()| {
                std::fs::write(
                    Path::new(&dir).join("resolv.conf"),
                    "nameserver 127.0.0.1\n",
                )
            })
            .map_err(|e| format!("{dir}: {e}"))?;
        Ok(this)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `program` to be run inside (through `ip netns exec`).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = sh(&format!(
            "ip netns pids {0} | xargs -r kill -9; ip netns del {0}",
            self.name
        ));
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.name));
    }
}
