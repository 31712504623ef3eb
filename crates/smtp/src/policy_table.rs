//! Per-destination TLS levels ([`TlsPolicy`]), as Postfix's `smtp_tls_policy_maps` keeps
//! them: from a TOML file of our own or from an existing Postfix table in its text form.
//!
//! Lookups follow Postfix (TLS_README, "TLS policy table"; `parent_domain_matches_subdomains`
//! does not list the table by default): the destination domain itself, then each parent
//! domain written with a leading dot (`sub.example.com`, `.example.com`, `.com`); the
//! table's default otherwise. Keys are case-insensitive.
//!
//! TOML:
//! ```toml
//! default = "dane"                      # destinations not listed (dane when absent)
//! [destinations]
//! "example.com" = "dane-only"
//! ".example.net" = "encrypt"            # every subdomain of example.net
//! "pinned.example" = { level = "fingerprint", match = ["3D:95:...:FA"] }
//! ```
//!
//! Postfix text (`postmap` source): `key  level [name=value ...]`, `#` comments, a line
//! starting with white space continues the previous one. `match=` gives fingerprints
//! (several separated by `|`, or several `match=`); `protocols=`, `ciphers=`, `exclude=`,
//! `connection_reuse=` and `servername=` are accepted and not used (rustls decides protocols
//! and ciphers). Keys in brackets (`[relay.example]:587`) name relays, which `mxdane send`
//! never uses: they are skipped and counted.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::deliver::TlsPolicy;

/// A policy table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyTable {
    default: TlsPolicy,
    entries: HashMap<String, TlsPolicy>,
    /// Relay entries (`[host]` keys) skipped when reading a Postfix table.
    pub skipped_relays: usize,
    /// Keys given again later in a Postfix table (the first entry stays, as with postmap).
    pub duplicates: usize,
}

impl PolicyTable {
    /// Every destination at `level`.
    pub fn uniform(level: TlsPolicy) -> Self {
        Self {
            default: level,
            entries: HashMap::new(),
            skipped_relays: 0,
            duplicates: 0,
        }
    }

    /// The level for destinations not listed.
    pub fn with_default(mut self, level: TlsPolicy) -> Self {
        self.default = level;
        self
    }

    /// The level for mail to `domain`, and the key that gave it (`None`: the default).
    pub fn lookup(&self, domain: &str) -> (&TlsPolicy, Option<String>) {
        let d = domain.trim_end_matches('.').to_ascii_lowercase();
        if let Some(p) = self.entries.get(&d) {
            return (p, Some(d));
        }
        let mut rest = d.as_str();
        while let Some((_, parent)) = rest.split_once('.') {
            let key = format!(".{parent}");
            if let Some(p) = self.entries.get(&key) {
                return (p, Some(key));
            }
            rest = parent;
        }
        (&self.default, None)
    }

    /// Reads `path`: TOML when its name ends in `.toml`, Postfix's text form otherwise.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let parsed = if path.extension().is_some_and(|e| e == "toml") {
            Self::from_toml(&text)
        } else {
            Self::from_postfix(&text)
        };
        parsed.map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Reads the TOML form.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            default: Option<String>,
            #[serde(default)]
            destinations: HashMap<String, Entry>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Entry {
            Level(String),
            Full {
                level: String,
                #[serde(default, rename = "match")]
                matches: Vec<String>,
            },
        }
        let f: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let default = match &f.default {
            Some(l) => TlsPolicy::parse(l, &[]).map_err(|e| format!("default: {e}"))?,
            None => TlsPolicy::Dane,
        };
        let mut entries = HashMap::new();
        for (key, e) in f.destinations {
            let (level, matches) = match e {
                Entry::Level(l) => (l, Vec::new()),
                Entry::Full { level, matches } => (level, matches),
            };
            let k = key_of(&key)?;
            let p = TlsPolicy::parse(&level, &matches).map_err(|e| format!("{key:?}: {e}"))?;
            if entries.insert(k, p).is_some() {
                return Err(format!(
                    "{key:?} is listed twice (keys are case-insensitive)"
                ));
            }
        }
        Ok(Self {
            default,
            entries,
            skipped_relays: 0,
            duplicates: 0,
        })
    }

    /// Reads Postfix's text form.
    pub fn from_postfix(text: &str) -> Result<Self, String> {
        // Logical lines: a line starting with white space continues the one before.
        let mut logical: Vec<(usize, String)> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            match logical.last_mut() {
                Some((_, l)) if raw.starts_with([' ', '\t']) => {
                    l.push(' ');
                    l.push_str(trimmed);
                }
                _ => logical.push((i + 1, trimmed.to_owned())),
            }
        }
        let mut table = Self::uniform(TlsPolicy::Dane);
        for (n, line) in logical {
            let bad = |why: String| format!("line {n}: {why}: {line}");
            let mut words = line.split_whitespace();
            let key = words.next().unwrap_or("");
            let Some(level) = words.next() else {
                return Err(bad("a key without a TLS level".into()));
            };
            let mut matches = Vec::new();
            for attr in words {
                let Some((name, value)) = attr.split_once('=') else {
                    return Err(bad(format!("{attr:?} is not name=value")));
                };
                match name {
                    "match" => matches.extend(
                        value
                            .split('|')
                            .filter(|v| !v.is_empty())
                            .map(str::to_owned),
                    ),
                    "protocols" | "ciphers" | "exclude" | "connection_reuse" | "servername" => {}
                    other => return Err(bad(format!("the attribute {other:?} is not supported"))),
                }
            }
            if key.starts_with('[') {
                table.skipped_relays += 1;
                continue;
            }
            let p = TlsPolicy::parse(level, &matches).map_err(bad)?;
            match table.entries.entry(key_of(key).map_err(bad)?) {
                std::collections::hash_map::Entry::Occupied(_) => table.duplicates += 1,
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(p);
                }
            }
        }
        Ok(table)
    }
}

/// A table key: a domain, or `.domain` for its subdomains; lower case, no final dot.
fn key_of(key: &str) -> Result<String, String> {
    let k = key.trim_end_matches('.').to_ascii_lowercase();
    let name = k.strip_prefix('.').unwrap_or(&k);
    if name.is_empty()
        || name.contains(['[', ']', ':', '@', '/'])
        || mxdane_dns::Name::try_parse(name).is_err()
    {
        return Err(format!("{key:?} is not a domain (or .domain) key"));
    }
    Ok(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIN: &str = "3D:95:34:51:24:66:33:B9:D2:AE:1A:61:4D:5D:C8:74:3C:6A:7C:6D:CC:3A:07:2C:6B:D5:A5:F2:AC:2B:90:FA";

    #[test]
    fn s10_postfix_table_lookups_go_domain_then_dotted_parents_as_postfix_does() {
        let t = PolicyTable::from_postfix(&format!(
            "# comment\nexample.com dane-only\n.example.com encrypt\n\
             pinned.test fingerprint\n    match={PIN}\n\
             [relay.example]:587 encrypt protocols=!SSLv2\n\
             .org may ciphers=high\nnone.test none\nexample.com may\n"
        ))
        .unwrap();
        assert_eq!(t.skipped_relays, 1);
        assert_eq!(t.duplicates, 1, "example.com again: the first entry stays");
        let level = |d: &str| t.lookup(d).0.name();
        assert_eq!(level("example.com"), "dane-only", "exact key");
        assert_eq!(level("EXAMPLE.com."), "dane-only", "case and final dot");
        assert_eq!(level("mail.example.com"), "encrypt", ".parent");
        assert_eq!(level("a.b.example.com"), "encrypt", "any depth");
        assert_eq!(level("anything.org"), "may", "a dotted TLD");
        assert_eq!(level("org"), "dane", ".org does not match org itself");
        assert_eq!(
            level("notexample.com"),
            "dane",
            "no suffix match without the dot"
        );
        assert_eq!(level("none.test"), "none");
        assert_eq!(t.lookup("x.example.com").1.as_deref(), Some(".example.com"));
        match t.lookup("pinned.test").0 {
            TlsPolicy::Fingerprint(p) => assert_eq!(p.len(), 1),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn s10_toml_table_has_a_default_and_the_same_lookups() {
        let t = PolicyTable::from_toml(&format!(
            "default = \"may\"\n[destinations]\n\"example.com\" = \"dane-only\"\n\".example.net\" = \"encrypt\"\n\"pinned.test\" = {{ level = \"fingerprint\", match = [\"{PIN}\", \"{}\"] }}\n",
            PIN.replace(':', "")
        ))
        .unwrap();
        assert_eq!(t.lookup("other.test").0, &TlsPolicy::May);
        assert_eq!(t.lookup("example.com").0, &TlsPolicy::DaneOnly);
        assert_eq!(t.lookup("mx.example.net").0, &TlsPolicy::Encrypt);
        assert!(matches!(t.lookup("pinned.test").0, TlsPolicy::Fingerprint(p) if p.len() == 2));
    }

    #[test]
    fn bad_tables_are_refused_with_the_line_and_the_problem() {
        for (text, want) in [
            ("example.com\n", "line 1: a key without a TLS level"),
            ("example.com secure\n", "WebPKI"),
            ("example.com fingerprint\n", "at least one SHA-256"),
            (
                "example.com fingerprint match=AB:CD\n",
                "not a SHA-256 digest",
            ),
            (
                "example.com dane tafile=/x\n",
                "\"tafile\" is not supported",
            ),
            (
                "example.com encrypt match=AB\n",
                "match= applies to fingerprint",
            ),
            ("ex ample.com\n", "line 1"),
            ("a@b.test may\n", "not a domain"),
            ("example.com bogus\n", "unknown TLS level"),
        ] {
            let e = PolicyTable::from_postfix(text).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
        }
        for (text, want) in [
            ("default = \"secure\"\n", "default"),
            (
                "[destinations]\n\"example.com\" = \"nope\"\n",
                "\"example.com\"",
            ),
            ("colour = 1\n", "unknown field"),
            (
                "[destinations]\n\"a.test\" = \"may\"\n\"A.test\" = \"dane\"\n",
                "listed twice",
            ),
        ] {
            let e = PolicyTable::from_toml(text).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }
}
