//! ACME dns-01: the challenge's TXT record published through the service's DNS method and checked on every authoritative server.

#[allow(clippy::wildcard_imports)]
use super::*;

/// The TTL of ACME dns-01 challenge records: short, they live for minutes.
pub(crate) const CHALLENGE_TTL: u32 = 60;

impl RealWorld {
    /// Adds or deletes the TXT record `value` at `owner` (an ACME dns-01 challenge,
    /// RFC 8555 section 8.4) through the DNS method of service `service`.
    pub fn change_txt(
        &mut self,
        service: &str,
        owner: &str,
        value: &str,
        add: bool,
    ) -> Result<(), String> {
        let s = self
            .config
            .services
            .iter()
            .find(|s| s.name == service)
            .ok_or_else(|| format!("no service {service}"))?
            .clone();
        if value.len() > 255 || !value.is_ascii() {
            return Err(format!("a TXT value of {} bytes", value.len()));
        }
        let owner_name = Name::try_parse(owner).map_err(|e| e.to_string())?;
        match &s.dns {
            Dns::Rfc2136 {
                zone,
                server,
                tsig_key,
            } => {
                let (key, server) = update_channel(tsig_key, server)?;
                let mut rdata = vec![u8::try_from(value.len()).unwrap_or(255)];
                rdata.extend_from_slice(value.as_bytes());
                let change = if add {
                    Change::Add {
                        owner: owner_name,
                        rtype: rtype::TXT,
                        ttl: CHALLENGE_TTL,
                        rdata,
                    }
                } else {
                    Change::Delete {
                        owner: owner_name,
                        rtype: rtype::TXT,
                        rdata,
                    }
                };
                let u = Update {
                    id: random_id(),
                    zone: Name::try_parse(zone).map_err(|e| e.to_string())?,
                    prerequisites: Vec::new(),
                    changes: vec![change],
                };
                let to = self.routes.get(&server).copied().unwrap_or(server);
                update::send(
                    &mxdane_dns::NetTransport::new(to, self.timeout),
                    &u,
                    Some(&key),
                    now_unix(),
                )
                .map_err(|e| format!("UPDATE to {server}: {e}"))
            }
            Dns::Hook { zone, command } => hook(
                command,
                zone,
                if add { "add" } else { "delete" },
                owner,
                CHALLENGE_TTL,
                "TXT",
                &format!("\"{value}\""),
            ),
            Dns::Manual { .. } => Err("dns-01 needs dns method rfc2136 or hook, not manual".into()),
        }
    }

    /// The authoritative servers (name and address) that do not serve the TXT record
    /// `value` at `owner` (when `present`), or still serve it (when not); an empty list means
    /// every server agrees. An error when no server can be found.
    pub fn txt_disagreeing(
        &self,
        owner: &str,
        value: &str,
        present: bool,
    ) -> Result<Vec<String>, String> {
        let name = Name::try_parse(owner).map_err(|e| e.to_string())?;
        let servers = self
            .runtime
            .block_on(mxdane_dns::nameservers::authoritative_servers(
                self.env.resolver.as_ref(),
                &self.env.nameserver,
                &name,
            ))
            .map_err(|e| format!("{owner}: {e}"))?;
        if let Some(why) = servers.incomplete() {
            return Err(format!(
                "{owner}: not every authoritative server can be asked: {why}"
            ));
        }
        if servers.addresses.is_empty() {
            return Err(format!("{owner}: no authoritative server found"));
        }
        let zone = mxdane_dns::direct::Zone {
            apex: &servers.apex,
            keys: &servers.keys,
            now: u32::try_from(now_unix()).unwrap_or(u32::MAX),
        };
        let mut out = Vec::new();
        for (ns, ip) in &servers.addresses {
            let t = (self.env.nameserver)(SocketAddr::new(*ip, 53));
            // An answer that does not validate counts as disagreeing: it holds the wait.
            let serves = match mxdane_dns::nameservers::ask(t.as_ref(), &name, rtype::TXT, &zone) {
                Ok(mxdane_dns::direct::Served::Rrset { records, .. }) => {
                    Some(records.iter().any(
                        |r| matches!(r, mxdane_dns::rdata::Rdata::Txt(s) if s.concat() == value),
                    ))
                }
                Ok(mxdane_dns::direct::Served::Absent { .. }) => Some(false),
                Err(_) => None,
            };
            if serves != Some(present) {
                out.push(format!("{ns} {ip}"));
            }
        }
        Ok(out)
    }
}
