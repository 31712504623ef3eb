//! The rollover configuration (TOML). Unknown keys are errors; every default is written out
//! by [`Config::effective`] (`mxdane rollover config`).
//!
//! ```toml
//! state = "/var/lib/mxdane/rollover.db"
//! keys = "/var/lib/mxdane/keys"
//!
//! [[service]]
//! name = "mail"
//! bases = ["mx1.example.com", "mx2.example.com"]   # TLSA base names this certificate serves
//! port = 25
//! scheme = "current+next"                           # or "current+issuer"
//! reload = ["systemctl", "reload", "postfix"]       # argv, no shell
//! ttl = 3600                                        # for records added to a new RRset
//!
//! [[service.algorithm]]
//! kind = "ecdsa"                                    # "rsa" or "ecdsa"
//! key = "/etc/postfix/ecdsa.key"                    # where the mail server reads them
//! chain = "/etc/postfix/ecdsa.pem"
//!
//! [service.dns]
//! method = "rfc2136"                                # "rfc2136", "hook" or "manual"
//! zone = "example.com"
//! server = "192.0.2.53:53"                          # the primary that takes UPDATEs
//! tsig-key = "/etc/mxdane/update.key"               # as BIND's tsig-keygen or keymgr write it
//!
//! [acme]                                            # optional: `run` orders certificates
//! directory = "https://acme-v02.api.letsencrypt.org/directory"
//! contact = ["mailto:postmaster@example.com"]
//! challenge = { type = "http-01", listen = "[::]:80" }   # or webroot, or dns-01
//! on-issuer-change = "publish-issuer"               # or "keep-key" (current+issuer)
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mxdane_tlsa::Name;
use serde::{Deserialize, Serialize};

use crate::lane::Scheme;

/// The whole file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// The SQLite event store.
    #[serde(default = "default_state")]
    pub state: PathBuf,
    /// Where staged keys are written (mode 0600).
    #[serde(default = "default_keys")]
    pub keys: PathBuf,
    /// Certificates from an ACME CA (RFC 8555); without it certificates come by `submit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acme: Option<Acme>,
    /// The services.
    #[serde(rename = "service")]
    pub services: Vec<Service>,
}

/// Where and how `run` orders certificates for the staged keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Acme {
    /// The CA's directory URL (https).
    pub directory: String,
    /// A PEM file of roots to trust for the directory instead of the system's (a test CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roots: Option<PathBuf>,
    /// Contact URLs for the account (`mailto:`).
    #[serde(default)]
    pub contact: Vec<String>,
    /// The account's credentials (key and URL, mode 0600); by default a file under `keys`
    /// named after the directory, so staging and production accounts never mix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<PathBuf>,
    /// How the CA's challenges are answered.
    pub challenge: Challenge,
    /// Under current+issuer, when the CA signs with an issuer whose `2 1 1` is not published.
    #[serde(default)]
    pub on_issuer_change: IssuerChange,
}

fn default_listen() -> String {
    "[::]:80".into()
}

/// How the CA's challenges are answered (RFC 8555 section 8).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case"
)]
pub enum Challenge {
    /// http-01 answered by mxdane's own listener (port 80 must reach it).
    #[serde(rename = "http-01")]
    Http01 {
        /// The address the listener binds.
        #[serde(default = "default_listen")]
        listen: String,
    },
    /// http-01 answered by files written under a web server's document root
    /// (`PATH/.well-known/acme-challenge/TOKEN`).
    Webroot {
        /// The document root.
        path: PathBuf,
    },
    /// dns-01: a TXT record at `_acme-challenge.NAME` through the service's DNS method,
    /// answered only once every authoritative server serves it, withdrawn afterwards.
    #[serde(rename = "dns-01")]
    Dns01,
}

/// What to do when a new certificate's issuer has no published `2 1 1` (current+issuer).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IssuerChange {
    /// Publish the new issuer's `2 1 1` and deploy after the gate (2 x TTL).
    #[default]
    PublishIssuer,
    /// Order again for the key in service, whose `3 1 1` authenticates it at once; the staged
    /// key waits for the next renewal.
    KeepKey,
}

impl Acme {
    /// The credentials file: `account`, or `KEYS/acme-HOST[-PATH].json`.
    pub fn account_file(&self, keys: &Path) -> PathBuf {
        if let Some(a) = &self.account {
            return a.clone();
        }
        let rest = self
            .directory
            .split_once("://")
            .map_or(self.directory.as_str(), |(_, r)| r);
        let mut name: String = rest
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        name.truncate(120);
        keys.join(format!("acme-{}.json", name.trim_matches('-')))
    }
}

fn default_state() -> PathBuf {
    PathBuf::from("/var/lib/mxdane/rollover.db")
}

fn default_keys() -> PathBuf {
    PathBuf::from("/var/lib/mxdane/keys")
}

fn default_port() -> u16 {
    25
}

fn default_ttl() -> u32 {
    3600
}

fn default_scheme() -> Scheme {
    Scheme::CurrentNext
}

/// One certificate's service: the names it serves, its key algorithms and how DNS changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Service {
    /// A short name (letters, digits, `-`, `_`).
    pub name: String,
    /// The TLSA base names (the MX host names) the certificate serves.
    pub bases: Vec<String>,
    /// The port of the TLSA owner names (`_PORT._tcp.BASE`).
    #[serde(default = "default_port")]
    pub port: u16,
    /// `current+next` (default) or `current+issuer`.
    #[serde(default = "default_scheme")]
    pub scheme: Scheme,
    /// The command that makes the mail server read its key and chain again (argv).
    pub reload: Vec<String>,
    /// The TTL of records the engine adds to a new RRset (an existing RRset keeps its TTL).
    #[serde(default = "default_ttl")]
    pub ttl: u32,
    /// The key algorithms, each with its own key pair and certificate.
    #[serde(rename = "algorithm")]
    pub algorithms: Vec<Algorithm>,
    /// How DNS is changed.
    pub dns: Dns,
}

/// A key algorithm's files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Algorithm {
    /// `rsa` or `ecdsa`.
    pub kind: KeyKind,
    /// The private key file the mail server reads.
    pub key: PathBuf,
    /// The chain file (leaf first) the mail server reads.
    pub chain: PathBuf,
}

/// A key algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyKind {
    /// RSA, 2048 bits or more.
    Rsa,
    /// ECDSA P-256.
    Ecdsa,
}

impl KeyKind {
    /// The configuration's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rsa => "rsa",
            Self::Ecdsa => "ecdsa",
        }
    }
}

/// How the engine changes DNS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case",
    tag = "method"
)]
pub enum Dns {
    /// RFC 2136 UPDATE signed with TSIG (RFC 8945, HMAC-SHA256) to the primary.
    Rfc2136 {
        /// The zone that holds the TLSA records.
        zone: String,
        /// The primary's address (port 53 by default).
        server: String,
        /// The TSIG key file (BIND `key "name" { algorithm hmac-sha256; secret "…"; };` or
        /// Knot's `key: - id: name algorithm: hmac-sha256 secret: …`).
        tsig_key: PathBuf,
    },
    /// A command run with `add` or `delete`, the owner name and the record (see README).
    Hook {
        /// The zone that holds the TLSA records.
        zone: String,
        /// The command (argv).
        command: Vec<String>,
    },
    /// Print the zone lines and wait until every server serves them.
    Manual {
        /// The zone that holds the TLSA records.
        zone: String,
    },
}

impl Dns {
    /// The zone.
    pub fn zone(&self) -> &str {
        match self {
            Self::Rfc2136 { zone, .. } | Self::Hook { zone, .. } | Self::Manual { zone } => zone,
        }
    }
}

/// A configuration that cannot be used, with where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Parses and checks a configuration; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let c: Config =
            toml::from_str(text).map_err(|e| ConfigError(format!("{origin}: {}", e.message())))?;
        c.check()
            .map_err(|e| ConfigError(format!("{origin}: {e}")))?;
        Ok(c)
    }

    /// Reads and parses a file.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{}: cannot read: {e}", path.display())))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The configuration with every default written out.
    pub fn effective(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }

    fn check(&self) -> Result<(), String> {
        if self.services.is_empty() {
            return Err("no [[service]]".into());
        }
        if let Some(a) = &self.acme {
            if !a.directory.starts_with("https://") {
                return Err(format!(
                    "acme.directory \"{}\": an https:// URL (RFC 8555 section 6.1)",
                    a.directory
                ));
            }
            if let Some(c) = a.contact.iter().find(|c| !c.starts_with("mailto:")) {
                return Err(format!("acme.contact \"{c}\": a mailto: URL"));
            }
            if let Challenge::Http01 { listen } = &a.challenge
                && listen.parse::<std::net::SocketAddr>().is_err()
            {
                return Err(format!(
                    "acme.challenge.listen \"{listen}\": an address and port such as [::]:80"
                ));
            }
        }
        let mut names = BTreeSet::new();
        for s in &self.services {
            let at = format!("service \"{}\"", s.name);
            if s.name.is_empty()
                || !s
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(format!("{at}: a name is letters, digits, '-' and '_'"));
            }
            if !names.insert(&s.name) {
                return Err(format!("{at}: defined twice"));
            }
            if s.bases.is_empty() {
                return Err(format!("{at}: bases is empty"));
            }
            let zone = Name::try_parse(s.dns.zone()).map_err(|e| format!("{at}: dns.zone: {e}"))?;
            for b in &s.bases {
                let base = Name::try_parse(b).map_err(|e| format!("{at}: bases: {e}"))?;
                if base.split_tlsa_owner().is_some() {
                    return Err(format!(
                        "{at}: bases: \"{b}\" is a TLSA owner name; give the host name"
                    ));
                }
                if !base.is_at_or_below(&zone) {
                    return Err(format!(
                        "{at}: bases: \"{b}\" is not in the zone {zone} that dns changes"
                    ));
                }
            }
            if s.port == 0 {
                return Err(format!("{at}: port 0"));
            }
            if !(60..=86_400).contains(&s.ttl) {
                return Err(format!("{at}: ttl {} is outside 60 to 86400 s", s.ttl));
            }
            if s.reload.is_empty() {
                return Err(format!(
                    "{at}: reload is empty (the command that reloads the server)"
                ));
            }
            if s.algorithms.is_empty() {
                return Err(format!("{at}: no [[service.algorithm]]"));
            }
            let mut kinds = BTreeSet::new();
            for a in &s.algorithms {
                if !kinds.insert(a.kind) {
                    return Err(format!(
                        "{at}: algorithm {} twice (each algorithm has one key pair)",
                        a.kind.name()
                    ));
                }
                if a.key == a.chain {
                    return Err(format!(
                        "{at}: {}: key and chain are the same file",
                        a.kind.name()
                    ));
                }
            }
            if let Some(a) = &self.acme
                && a.challenge == Challenge::Dns01
                && matches!(s.dns, Dns::Manual { .. })
            {
                return Err(format!(
                    "{at}: acme challenge dns-01 needs dns method rfc2136 or hook, not manual"
                ));
            }
            match &s.dns {
                Dns::Rfc2136 { server, .. } if server.is_empty() => {
                    return Err(format!("{at}: dns.server is empty"));
                }
                Dns::Hook { command, .. } if command.is_empty() => {
                    return Err(format!("{at}: dns.command is empty"));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The lanes of a configuration: one per service and key algorithm.
pub fn lanes(config: &Config) -> Result<Vec<crate::engine::LaneSetup>, String> {
    let mut out = Vec::new();
    for s in &config.services {
        let owners = owners(s)?;
        for a in &s.algorithms {
            out.push(crate::engine::LaneSetup {
                id: crate::store::LaneId {
                    service: s.name.clone(),
                    algorithm: a.kind.name().to_owned(),
                },
                owners: owners.clone(),
                scheme: s.scheme,
            });
        }
    }
    Ok(out)
}

/// The TLSA owner names of a service (`_PORT._tcp.BASE` for each base).
pub fn owners(s: &Service) -> Result<Vec<String>, String> {
    s.bases
        .iter()
        .map(|b| {
            let base = Name::try_parse(b).map_err(|e| e.to_string())?;
            base.tlsa_owner(s.port)
                .map(|o| o.to_string())
                .map_err(|e| e.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[service]]
name = "mail"
bases = ["mx1.example.com", "MX2.example.com."]
reload = ["postfix", "reload"]
[[service.algorithm]]
kind = "ecdsa"
key = "/etc/postfix/ecdsa.key"
chain = "/etc/postfix/ecdsa.pem"
[[service.algorithm]]
kind = "rsa"
key = "/etc/postfix/rsa.key"
chain = "/etc/postfix/rsa.pem"
[service.dns]
method = "rfc2136"
zone = "example.com"
server = "192.0.2.53"
tsig-key = "/etc/mxdane/update.key"
"#;

    #[test]
    fn a_good_file_and_its_defaults() {
        let c = Config::parse(GOOD, "t.toml").unwrap();
        assert_eq!(c.services[0].port, 25);
        assert_eq!(c.services[0].scheme, Scheme::CurrentNext);
        let eff = c.effective();
        assert!(eff.contains("scheme = \"current+next\""), "{eff}");
        assert!(
            eff.contains("state = \"/var/lib/mxdane/rollover.db\""),
            "{eff}"
        );
        // The effective file reads back as the same configuration.
        assert_eq!(Config::parse(&eff, "effective").unwrap(), c);
    }

    #[test]
    fn the_acme_section_and_its_account_file() {
        let text = format!(
            "{GOOD}[acme]\ndirectory = \"https://acme-v02.api.letsencrypt.org/directory\"\nchallenge = {{ type = \"http-01\" }}\n"
        );
        let c = Config::parse(&text, "t.toml").unwrap();
        let a = c.acme.clone().unwrap();
        assert_eq!(
            a.challenge,
            Challenge::Http01 {
                listen: "[::]:80".into()
            }
        );
        assert_eq!(a.on_issuer_change, IssuerChange::PublishIssuer);
        assert_eq!(
            a.account_file(Path::new("/k")),
            Path::new("/k/acme-acme-v02-api-letsencrypt-org-directory.json")
        );
        let eff = c.effective();
        assert!(
            eff.contains("on-issuer-change = \"publish-issuer\""),
            "{eff}"
        );
        assert_eq!(Config::parse(&eff, "effective").unwrap(), c);
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        for (edit, want) in [
            (
                GOOD.replace("port", "prot")
                    .replace("name = \"mail\"", "name = \"mail\"\nprot = 25"),
                "unknown field `prot`",
            ),
            (
                GOOD.replace("kind = \"rsa\"", "kind = \"ecdsa\""),
                "algorithm ecdsa twice",
            ),
            (
                GOOD.replace("kind = \"rsa\"", "kind = \"dsa\""),
                "unknown variant `dsa`",
            ),
            (
                GOOD.replace("mx1.example.com", "mx1.example.net"),
                "not in the zone example.com.",
            ),
            (
                GOOD.replace("mx1.example.com", "_25._tcp.mx1.example.com"),
                "is a TLSA owner name",
            ),
            (
                GOOD.replace("reload = [\"postfix\", \"reload\"]", "reload = []"),
                "reload is empty",
            ),
            (
                GOOD.replace("method = \"rfc2136\"", "method = \"carrier-pigeon\""),
                "unknown variant `carrier-pigeon`",
            ),
            (
                GOOD.replace("[service.dns]", "port = 70000\n[service.dns]"),
                "port",
            ),
            ("".to_owned(), "missing field `service`"),
            (
                format!(
                    "{GOOD}[acme]\ndirectory = \"http://ca/dir\"\nchallenge = {{ type = \"dns-01\" }}\n"
                ),
                "an https:// URL",
            ),
            (
                format!(
                    "{GOOD}[acme]\ndirectory = \"https://ca/dir\"\nchallenge = {{ type = \"tls-alpn-01\" }}\n"
                ),
                "unknown variant `tls-alpn-01`",
            ),
            (
                format!(
                    "{GOOD}[acme]\ndirectory = \"https://ca/dir\"\ncontact = [\"me@x\"]\nchallenge = {{ type = \"dns-01\" }}\n"
                ),
                "a mailto: URL",
            ),
            (
                format!(
                    "{GOOD}[acme]\ndirectory = \"https://ca/dir\"\nchallenge = {{ type = \"http-01\", listen = \"port 80\" }}\n"
                ),
                "an address and port",
            ),
            (
                format!(
                    "{}[acme]\ndirectory = \"https://ca/dir\"\nchallenge = {{ type = \"dns-01\" }}\n",
                    GOOD.replace("method = \"rfc2136\"", "method = \"manual\"")
                        .replace(
                            "server = \"192.0.2.53\"\ntsig-key = \"/etc/mxdane/update.key\"\n",
                            ""
                        )
                ),
                "dns-01 needs dns method rfc2136 or hook",
            ),
        ] {
            let e = Config::parse(&edit, "t.toml").unwrap_err().to_string();
            assert!(e.starts_with("t.toml: "), "{e}");
            assert!(e.contains(want), "{want}: {e}");
        }
    }
}
