//! `mxdane rollover`'s world: the rollover engine's [`World`] over real DNS and a real mail
//! server. Observation asks every authoritative server of the TLSA zone directly and checks
//! each RRset's signature with the zone's validated keys (P-03); changes go out as RFC 2136
//! UPDATEs signed with TSIG, with the RRset the primary serves as prerequisite (a concurrent
//! edit fails the update instead of being overwritten), or through a hook command, or as zone
//! lines for a person to add; a deployment writes key and chain atomically, reloads the
//! server, and probes every address for the algorithm with DANE against what DNS publishes,
//! putting the previous pair back when any probe fails (P-08).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod acme;
mod dns01;
pub mod issuance;
mod keys;

pub use keys::*;

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mxdane_dns::Name;
use mxdane_dns::nameservers::ask_all;
use mxdane_dns::rdata::rtype;
use mxdane_dns::update::{self, Change, Prerequisite, TsigKey, Update};
use mxdane_rollover::Ts;
use mxdane_rollover::config::{Algorithm, Config, Dns, KeyKind, Service};
use mxdane_rollover::engine::{Answer, Observation, World};
use mxdane_rollover::lane::{Cert, Key};
use mxdane_rollover::store::LaneId;
use mxdane_smtp::{Policy, Security, Settings};
use mxdane_tls::{DaneTarget, KeyFilter};
use mxdane_tlsa::{Certificate, Tlsa, read_material};

use mxdane_check::Environment;

pub use mxdane_rollover::config::lanes;
use mxdane_rollover::config::owners;

/// Runs a command (argv, no shell) with a deadline; Err names its status and the end of its
/// standard error.
fn run_command(argv: &[String], env: &[(&str, String)], limit: Duration) -> Result<(), String> {
    let (program, args) = argv.split_first().ok_or("an empty command")?;
    let mut child = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{program}: cannot start: {e}"))?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use std::io::Read;
                    let _ = (&mut e).take(4096).read_to_string(&mut err);
                }
                return Err(format!("{program} failed ({status}): {}", err.trim()));
            }
            Ok(None) if started.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{program} took longer than {} s", limit.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("{program}: {e}")),
        }
    }
}

/// The real world of a configuration.
pub struct RealWorld {
    config: Config,
    env: Environment,
    /// Where update messages and SMTP probes really go (labs and staging).
    routes: HashMap<SocketAddr, SocketAddr>,
    runtime: tokio::runtime::Runtime,
    timeout: Duration,
    /// Zone lines a person must add or remove (the manual method), in order.
    pub instructions: Vec<String>,
    /// What the primary served at each owner at the last observation, with its TTL: the
    /// prerequisite of the next update, so that an edit made since makes it fail (NXRRSET)
    /// instead of going unnoticed.
    seen: HashMap<String, (Vec<Tlsa>, Option<u32>)>,
    /// Each owner's zone (apex and validated DNSKEY RRset) at the last observation, which
    /// judges what the primary says when it is asked directly.
    zones: HashMap<String, (Name, Vec<mxdane_dns::rdata::Rdata>)>,
}

fn now_unix() -> u64 {
    u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0)
}

impl RealWorld {
    /// A world for `config`; `routes` redirect addresses (empty in production).
    pub fn new(
        config: Config,
        env: Environment,
        routes: HashMap<SocketAddr, SocketAddr>,
        timeout: Duration,
    ) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
        Ok(Self {
            config,
            env,
            routes,
            runtime,
            timeout,
            instructions: Vec::new(),
            seen: HashMap::new(),
            zones: HashMap::new(),
        })
    }

    fn service(&self, lane: &LaneId) -> Result<(&Service, &Algorithm), String> {
        let s = self
            .config
            .services
            .iter()
            .find(|s| s.name == lane.service)
            .ok_or_else(|| format!("no service {}", lane.service))?;
        let a = s
            .algorithms
            .iter()
            .find(|a| a.kind.name() == lane.algorithm)
            .ok_or_else(|| format!("service {}: no algorithm {}", s.name, lane.algorithm))?;
        Ok((s, a))
    }

    fn service_for(&self, wanted: &[String]) -> Result<&Service, String> {
        self.config
            .services
            .iter()
            .find(|s| owners(s).is_ok_and(|o| o == wanted))
            .ok_or_else(|| "no service has these owner names".to_owned())
    }

    /// The primary that takes updates for these owners.
    fn primary_server(&self, owners_: &[String]) -> Option<SocketAddr> {
        match &self.service_for(owners_).ok()?.dns {
            Dns::Rfc2136 { server, .. } => mxdane_dns::transport::parse_server(server).ok(),
            _ => None,
        }
    }

    /// The published address of the primary that takes updates for these owners.
    fn primary_address(&self, owners_: &[String]) -> Option<IpAddr> {
        match &self.service_for(owners_).ok()?.dns {
            Dns::Rfc2136 { server, .. } => mxdane_dns::transport::parse_server(server)
                .ok()
                .map(|a| a.ip()),
            _ => None,
        }
    }

    /// The RRset the primary serves at `owner` now (for prerequisites), with its signed TTL:
    /// asked directly and judged with the zone's validated keys from the last observation, so
    /// a forged answer on the way to a hidden primary is an error, never a prerequisite.
    fn primary_rrset(
        &self,
        server: SocketAddr,
        owner: &Name,
    ) -> Result<(Vec<Tlsa>, Option<u32>), String> {
        let (apex, keys) = self.zones.get(owner.as_str()).ok_or_else(|| {
            format!("{owner}: not observed yet, so the primary's answer cannot be judged")
        })?;
        let to = self.routes.get(&server).copied().unwrap_or(server);
        let t = mxdane_dns::NetTransport::new(to, self.timeout);
        let zone = mxdane_dns::direct::Zone {
            apex,
            keys,
            now: u32::try_from(now_unix()).unwrap_or(u32::MAX),
        };
        match mxdane_dns::nameservers::ask(&t, owner, rtype::TLSA, &zone)
            .map_err(|e| format!("asking the primary {server}: {e}"))?
        {
            mxdane_dns::direct::Served::Rrset { records, ttl, .. } => Ok((
                records
                    .iter()
                    .filter_map(|r| r.to_string().parse::<Tlsa>().ok())
                    .collect(),
                Some(ttl),
            )),
            mxdane_dns::direct::Served::Absent { .. } => Ok((Vec::new(), None)),
        }
    }

    fn change(&mut self, owners_: &[String], rdatas: &[String], add: bool) -> Result<(), String> {
        let service = self.service_for(owners_)?.clone();
        let records: Vec<Tlsa> = rdatas
            .iter()
            .map(|r| r.parse::<Tlsa>().map_err(|e| format!("\"{r}\": {e}")))
            .collect::<Result<_, _>>()?;
        match &service.dns {
            Dns::Rfc2136 {
                zone,
                server,
                tsig_key,
            } => {
                let (key, server) = update_channel(tsig_key, server)?;
                let zone = Name::try_parse(zone).map_err(|e| e.to_string())?;
                let mut u = Update {
                    id: random_id(),
                    zone,
                    prerequisites: Vec::new(),
                    changes: Vec::new(),
                };
                for o in owners_ {
                    let owner = Name::try_parse(o).map_err(|e| e.to_string())?;
                    let (current, ttl) = match self.seen.get(o) {
                        Some(seen) => seen.clone(),
                        None => self.primary_rrset(server, &owner)?,
                    };
                    u.prerequisites.push(if current.is_empty() {
                        Prerequisite::Absent {
                            owner: owner.clone(),
                            rtype: rtype::TLSA,
                        }
                    } else {
                        Prerequisite::Exactly {
                            owner: owner.clone(),
                            rtype: rtype::TLSA,
                            rdatas: current.iter().map(Tlsa::to_wire).collect(),
                        }
                    });
                    for r in &records {
                        let present = current.contains(r);
                        if add && !present {
                            u.changes.push(Change::Add {
                                owner: owner.clone(),
                                rtype: rtype::TLSA,
                                ttl: ttl.unwrap_or(service.ttl),
                                rdata: r.to_wire(),
                            });
                        } else if !add && present {
                            u.changes.push(Change::Delete {
                                owner: owner.clone(),
                                rtype: rtype::TLSA,
                                rdata: r.to_wire(),
                            });
                        }
                    }
                }
                if u.changes.is_empty() {
                    return Ok(());
                }
                let to = self.routes.get(&server).copied().unwrap_or(server);
                let sent = update::send(
                    &mxdane_dns::NetTransport::new(to, self.timeout),
                    &u,
                    Some(&key),
                    now_unix(),
                );
                match sent {
                    Ok(()) => {
                        // The primary's RRset is now what we made it.
                        for o in owners_ {
                            if let Some((set, ttl)) = self.seen.get_mut(o) {
                                for r in &records {
                                    set.retain(|x| x != r);
                                    if add {
                                        set.push(r.clone());
                                    }
                                }
                                ttl.get_or_insert(service.ttl);
                            }
                        }
                        Ok(())
                    }
                    Err(e) => {
                        // Look again next time.
                        for o in owners_ {
                            self.seen.remove(o);
                        }
                        Err(format!("UPDATE to {server}: {e}"))
                    }
                }
            }
            Dns::Hook { zone, command } => {
                for o in owners_ {
                    for r in rdatas {
                        let action = if add { "add" } else { "delete" };
                        hook(command, zone, action, o, service.ttl, "TLSA", r)?;
                    }
                }
                Ok(())
            }
            Dns::Manual { .. } => {
                for o in owners_ {
                    for r in rdatas {
                        self.instructions.push(format!(
                            "{} {o} {} IN TLSA {r}",
                            if add { "add:   " } else { "remove:" },
                            service.ttl
                        ));
                    }
                }
                Ok(())
            }
        }
    }

    /// Every address of every base of `service`, for probes. A base whose address lookups
    /// are bogus, indeterminate or failed is an error: an address left out would be a server
    /// never probed.
    fn addresses(&self, service: &Service) -> Result<Vec<(Name, IpAddr)>, String> {
        let mut out = Vec::new();
        for b in &service.bases {
            let host = Name::try_parse(b).map_err(|e| e.to_string())?;
            for t in [rtype::A, rtype::AAAA] {
                let l = self
                    .runtime
                    .block_on(self.env.resolver.lookup(&host, t))
                    .map_err(|e| format!("{host} {}: {e}", mxdane_dns::rdata::type_name(t)))?;
                if matches!(
                    l.status(),
                    mxdane_dns::Status::Bogus(_) | mxdane_dns::Status::Indeterminate(_)
                ) {
                    return Err(format!(
                        "the {host} {} lookup is {}",
                        mxdane_dns::rdata::type_name(t),
                        l.status()
                    ));
                }
                for r in l.records() {
                    match r {
                        mxdane_dns::rdata::Rdata::A(a) => out.push((host.clone(), IpAddr::V4(*a))),
                        mxdane_dns::rdata::Rdata::Aaaa(a) => {
                            out.push((host.clone(), IpAddr::V6(*a)));
                        }
                        _ => {}
                    }
                }
            }
        }
        if out.is_empty() {
            return Err(format!(
                "service {}: no address for any base name",
                service.name
            ));
        }
        Ok(out)
    }

    /// Probes after a reload: a server such as Postfix lets processes started before the
    /// reload finish, so the new pair may take a moment to be the one presented. Up to ten
    /// probes a second apart; the last failure is the answer.
    fn probe_after_reload(&mut self, lane: &LaneId, spki: &str) -> Result<(), String> {
        let mut last = Err(String::from("not probed"));
        for attempt in 0..10 {
            if attempt > 0 {
                std::thread::sleep(Duration::from_secs(1));
            }
            last = self.probe_all(lane, spki);
            if last.is_ok() {
                break;
            }
        }
        last
    }

    /// After a reload, the service's other key algorithms must still present their own
    /// certificates (as their chain files hold them) and authenticate: a reload that breaks
    /// the RSA side while switching ECDSA is a failed deployment too.
    fn probe_other_algorithms(&mut self, service: &Service, lane: &LaneId) -> Result<(), String> {
        for a in &service.algorithms {
            if a.kind.name() == lane.algorithm {
                continue;
            }
            let chain = read_capped(&a.chain)?;
            let cert = cert_from_pem(&chain, &a.chain.display().to_string())?;
            let other = LaneId {
                service: service.name.clone(),
                algorithm: a.kind.name().to_owned(),
            };
            self.probe_all(&other, &cert.spki_sha256)?;
        }
        Ok(())
    }

    /// Probes every address of the lane's service with the lane's key type: each must present
    /// `spki` and authenticate with DANE against what every server publishes.
    fn probe_all(&mut self, lane: &LaneId, spki: &str) -> Result<(), String> {
        let (service, alg) = self.service(lane)?;
        let service = service.clone();
        let filter = match alg.kind {
            KeyKind::Rsa => KeyFilter::Rsa,
            KeyKind::Ecdsa => KeyFilter::Ecdsa,
        };
        let owners = owners(&service)?;
        let obs = self.observe(&owners, 0)?;
        for (host, ip) in self.addresses(&service)? {
            let owner = host.tlsa_owner(service.port).map_err(|e| e.to_string())?;
            // The records every server serves at this owner.
            let mut common: Option<BTreeSet<String>> = None;
            for a in obs.answers.iter().filter(|a| a.owner == owner.as_str()) {
                let set = a.rrset.as_ref().map(|(s, _)| s.clone()).unwrap_or_default();
                common = Some(match common {
                    None => set,
                    Some(c) => c.intersection(&set).cloned().collect(),
                });
            }
            let records: Vec<Tlsa> = common
                .unwrap_or_default()
                .iter()
                .filter_map(|r| r.parse().ok())
                .collect();
            let target = DaneTarget::new(records, vec![host.clone()])
                .map_err(|e| e.to_string())?
                .key_filter(filter);
            let addr = SocketAddr::new(ip, service.port);
            let report = self.runtime.block_on(mxdane_smtp::session(
                &self.env.connector,
                addr,
                &Policy::Dane(target),
                "mxdane.invalid",
                Settings {
                    step: self.timeout,
                    total: self.timeout.saturating_mul(6),
                    ..Settings::default()
                },
            ));
            let leaf = report
                .tls
                .as_ref()
                .and_then(|t| t.report.as_ref())
                .and_then(|r| r.chain().first().map(|c| c.spki_sha256.clone()));
            if report.security != Security::Authenticated {
                return Err(format!(
                    "{host} {ip} ({}): not authenticated by the published records: {}",
                    lane.algorithm,
                    report
                        .error
                        .as_ref()
                        .map_or_else(|| "no TLS".to_owned(), ToString::to_string)
                ));
            }
            if leaf.as_deref() != Some(spki) {
                return Err(format!(
                    "{host} {ip} ({}): presents key {}, not {spki}",
                    lane.algorithm,
                    leaf.unwrap_or_default()
                ));
            }
        }
        Ok(())
    }
}

/// The RFC 2136 method's TSIG key and primary.
fn update_channel(tsig_key: &Path, server: &str) -> Result<(TsigKey, SocketAddr), String> {
    let key_text = String::from_utf8(read_capped(tsig_key)?)
        .map_err(|_| format!("{}: not text", tsig_key.display()))?;
    let key = TsigKey::parse_file(&key_text).map_err(|e| format!("{}: {e}", tsig_key.display()))?;
    let server: SocketAddr = mxdane_dns::transport::parse_server(server)
        .map_err(|e| format!("dns.server \"{server}\": {e}"))?;
    Ok((key, server))
}

/// Runs the hook: `COMMAND ACTION OWNER TTL RDATA TYPE`, the same in `MXDANE_*` variables.
fn hook(
    command: &[String],
    zone: &str,
    action: &str,
    owner: &str,
    ttl: u32,
    rtype: &str,
    rdata: &str,
) -> Result<(), String> {
    let mut argv = command.to_vec();
    argv.extend([
        action.to_owned(),
        owner.to_owned(),
        ttl.to_string(),
        rdata.to_owned(),
        rtype.to_owned(),
    ]);
    run_command(
        &argv,
        &[
            ("MXDANE_ACTION", action.to_owned()),
            ("MXDANE_ZONE", zone.to_owned()),
            ("MXDANE_OWNER", owner.to_owned()),
            ("MXDANE_TTL", ttl.to_string()),
            ("MXDANE_RDATA", rdata.to_owned()),
            ("MXDANE_TYPE", rtype.to_owned()),
        ],
        Duration::from_secs(120),
    )
}

fn random_id() -> u16 {
    let mut b = [0u8; 2];
    let _ = aws_lc_rs::rand::fill(&mut b);
    u16::from_be_bytes(b)
}

impl World for RealWorld {
    fn observe(&mut self, owners: &[String], _: Ts) -> Result<Observation, String> {
        let now = u32::try_from(now_unix()).unwrap_or(u32::MAX);
        let mut obs = Observation::default();
        let primary = self.primary_address(owners);
        for o in owners {
            let owner = Name::try_parse(o).map_err(|e| e.to_string())?;
            let view = self
                .runtime
                .block_on(ask_all(
                    self.env.resolver.as_ref(),
                    &self.env.nameserver,
                    &owner,
                    now,
                ))
                .map_err(|e| format!("{o}: {e}"))?;
            // P-03: "on every server" must mean every server; the gate stays shut otherwise.
            if let Some(why) = view.servers.incomplete() {
                return Err(format!(
                    "{o}: not every authoritative server can be asked: {why}"
                ));
            }
            if view.answers.is_empty() {
                return Err(format!("{o}: no authoritative server found"));
            }
            self.zones.insert(
                o.clone(),
                (view.servers.apex.clone(), view.servers.keys.clone()),
            );
            let mut primary_seen = false;
            for a in view.answers {
                if Some(a.ip) == primary
                    && let Ok(t) = &a.tlsa
                {
                    let records = t.clone();
                    self.seen.insert(o.clone(), (records, a.ttl));
                    primary_seen = true;
                }
                obs.negative_ttl = obs.negative_ttl.max(a.negative_ttl.unwrap_or(0));
                let rrset = match &a.tlsa {
                    // The engine's records are their presentation forms.
                    Ok(t) => Ok((
                        t.iter().map(ToString::to_string).collect(),
                        a.ttl.unwrap_or(0),
                    )),
                    Err(e) => Err(e.clone()),
                };
                obs.answers.push(Answer {
                    server: format!("{} {}", a.name, a.ip),
                    owner: o.clone(),
                    rrset,
                });
            }
            // A hidden primary (not in the NS set): asked directly, its answer judged with the
            // zone's validated keys.
            if !primary_seen && let Some(server) = self.primary_server(owners) {
                match self.primary_rrset(server, &owner) {
                    Ok(seen) => {
                        self.seen.insert(o.clone(), seen);
                    }
                    Err(_) => {
                        self.seen.remove(o);
                    }
                }
            }
        }
        Ok(obs)
    }

    fn publish(&mut self, owners: &[String], rdatas: &[String], _: Ts) -> Result<(), String> {
        self.change(owners, rdatas, true)
    }

    fn withdraw(&mut self, owners: &[String], rdatas: &[String], _: Ts) -> Result<(), String> {
        self.change(owners, rdatas, false)
    }

    fn make_key(&mut self, lane: &LaneId, _: Ts) -> Result<Key, String> {
        let (_, alg) = self.service(lane)?;
        let pair = match alg.kind {
            KeyKind::Ecdsa => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            KeyKind::Rsa => {
                rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
            }
        }
        .map_err(|e| format!("cannot generate a {} key: {e}", lane.algorithm))?;
        let spki = sha256_hex(&rcgen::PublicKeyData::subject_public_key_info(&pair));
        std::fs::create_dir_all(&self.config.keys)
            .map_err(|e| format!("{}: {e}", self.config.keys.display()))?;
        let file = self.config.keys.join(format!(
            "{}-{}-{}.key",
            lane.service,
            lane.algorithm,
            &spki[..16]
        ));
        write_atomic(&file, pair.serialize_pem().as_bytes(), 0o600)?;
        Ok(Key {
            spki_sha256: spki,
            file: file.display().to_string(),
        })
    }

    fn presents(&mut self, lane: &LaneId, cert: &Cert, _: Ts) -> Result<bool, String> {
        Ok(self.probe_all(lane, &cert.spki_sha256).is_ok())
    }

    fn deploy(
        &mut self,
        lane: &LaneId,
        key: &Key,
        cert: &Cert,
        _previous: Option<(&Key, &Cert)>,
        _: Ts,
    ) -> Result<(), String> {
        let (service, alg) = self.service(lane)?;
        let (service, alg) = (service.clone(), alg.clone());
        if key.file.is_empty() {
            return Err("no key file for the certificate's key".into());
        }
        let key_pem = read_capped(Path::new(&key.file))?;
        if key_spki(Path::new(&key.file))? != cert.spki_sha256 {
            return Err(format!("{}: not the certificate's key", key.file));
        }
        // Keep the pair in service, then put the new one in place.
        let keep = |p: &PathBuf| beside(p, "mxdane-previous");
        let previous_key = read_capped(&alg.key).ok();
        let previous_chain = read_capped(&alg.chain).ok();
        if let (Some(k), Some(c)) = (&previous_key, &previous_chain) {
            write_atomic(&keep(&alg.key), k, 0o600)?;
            write_atomic(&keep(&alg.chain), c, 0o644)?;
        }
        let outcome = write_atomic(&alg.key, &key_pem, 0o600)
            .and_then(|()| write_atomic(&alg.chain, cert.pem.as_bytes(), 0o644))
            .and_then(|()| run_command(&service.reload, &[], Duration::from_secs(120)))
            .and_then(|()| self.probe_after_reload(lane, &cert.spki_sha256))
            .and_then(|()| self.probe_other_algorithms(&service, lane));
        let Err(why) = outcome else {
            return Ok(());
        };
        // Roll back: the previous pair, reloaded.
        let restored = match (&previous_key, &previous_chain) {
            (Some(k), Some(c)) => write_atomic(&alg.key, k, 0o600)
                .and_then(|()| write_atomic(&alg.chain, c, 0o644))
                .and_then(|()| run_command(&service.reload, &[], Duration::from_secs(120))),
            _ => Err("there was no previous pair to restore".into()),
        };
        Err(match restored {
            Ok(()) => format!("{why}; the previous key and chain are back in service"),
            Err(e) => format!("{why}; restoring the previous pair failed too: {e}"),
        })
    }
}

/// `rollover init` for one lane: the certificate and key the server uses now (its configured
/// files) become the lane's current pair; the key is copied into the key directory (mode
/// 0600) so that a later rollback does not depend on the server's file. Returns false when the
/// lane already has a current pair.
pub fn adopt_running<S: mxdane_rollover::store::Store, W: World>(
    engine: &mut mxdane_rollover::engine::Engine<S, W>,
    config: &Config,
    lane: &LaneId,
    now: Ts,
) -> Result<bool, String> {
    let service = config
        .services
        .iter()
        .find(|s| s.name == lane.service)
        .ok_or_else(|| format!("no service {}", lane.service))?;
    let alg = service
        .algorithms
        .iter()
        .find(|a| a.kind.name() == lane.algorithm)
        .ok_or_else(|| format!("service {}: no algorithm {}", service.name, lane.algorithm))?;
    let chain = read_capped(&alg.chain)?;
    let cert = cert_from_pem(&chain, &alg.chain.display().to_string())?;
    let copy = keep_key(config, &lane.service, &lane.algorithm, &alg.key, &cert).map_err(|e| {
        format!(
            "{e} (the certificate in service is in {})",
            alg.chain.display()
        )
    })?;
    let spki = cert.spki_sha256.clone();
    engine
        .adopt(
            lane,
            Key {
                spki_sha256: spki,
                file: copy,
            },
            cert,
            now,
        )
        .map_err(|e| e.to_string())
}
