//! Key and certificate files: reading them, SPKI digests, backups beside them, atomic 0600 writes, and CSRs for a staged key.

#[allow(clippy::wildcard_imports)]
use super::*;

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    mxdane_tlsa::record::hex(d.as_ref())
}

/// A certificate chain file (PEM, any order) as the engine sees it: the leaf's key, its
/// issuer's key (the chain certificate whose key signed the leaf; none if no certificate in
/// the file did), the leaf's notAfter and the chain leaf first.
pub fn cert_from_pem(pem: &[u8], label: &str) -> Result<Cert, String> {
    let m = read_material(pem).map_err(|e| format!("{label}: {e}"))?;
    if m.certificates.is_empty() {
        return Err(format!("{label}: holds no certificate"));
    }
    let (leaf, rest) =
        mxdane_tlsa::generate::split_leaf(m.certificates).map_err(|e| format!("{label}: {e}"))?;
    // The issuer is the certificate whose key signed the leaf, never one that only shares
    // the issuer's name: under current + issuer its key is what gets published.
    let issuer = rest.iter().find(|c| {
        c.subject() == leaf.issuer() && mxdane_tls::issued_by(&leaf.der().into(), &c.der().into())
    });
    let mut ordered: Vec<&Certificate> = vec![&leaf];
    ordered.extend(issuer);
    ordered.extend(rest.iter().filter(|c| Some(*c) != issuer));
    let mut text = String::new();
    for c in &ordered {
        text.push_str(&pem_block("CERTIFICATE", c.der()));
    }
    Ok(Cert {
        spki_sha256: sha256_hex(leaf.spki_der()),
        issuer_spki_sha256: issuer.map(|i| sha256_hex(i.spki_der())),
        not_before: leaf.not_before().unix_timestamp(),
        not_after: leaf.not_after().unix_timestamp(),
        pem: text,
        key_file: None,
    })
}

pub(crate) fn pem_block(label: &str, der: &[u8]) -> String {
    let b64 = data_encoding::BASE64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The SHA-256 of a private key file's public half (the data of its `3 1 1`).
pub fn key_spki(path: &Path) -> Result<String, String> {
    let bytes = read_capped(path)?;
    let m = read_material(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let k = m
        .keys
        .first()
        .ok_or_else(|| format!("{}: holds no key", path.display()))?;
    Ok(sha256_hex(k.spki_der()))
}

pub(crate) fn read_capped(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f =
        std::fs::File::open(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let mut buf = Vec::new();
    f.take(1 << 20)
        .read_to_end(&mut buf)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    Ok(buf)
}

/// `path` with `.suffix` added to its whole file name (`mail.key` -> `mail.key.suffix`), so
/// that two files of one stem (`mail.key`, `mail.pem`) never share a temporary or a backup.
pub fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    path.with_file_name(name)
}

/// Writes `data` to `path` atomically and durably: a new file beside it (mode `mode`), synced,
/// renamed over `path`, and the directory synced, so that after a crash the directory holds
/// either the old file or the new one, whole.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = beside(path, "mxdane-new");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("{}: cannot sync the directory: {e}", dir.display()))
}

/// Copies the private key of a certificate obtained elsewhere into the key directory (mode
/// 0600) after checking that it is the certificate's key; returns the copy's path.
pub fn keep_key(
    config: &Config,
    service: &str,
    algorithm: &str,
    key: &Path,
    cert: &Cert,
) -> Result<String, String> {
    let spki = key_spki(key)?;
    if spki != cert.spki_sha256 {
        return Err(format!("{}: not the certificate's key", key.display()));
    }
    std::fs::create_dir_all(&config.keys).map_err(|e| format!("{}: {e}", config.keys.display()))?;
    let copy = config
        .keys
        .join(format!("{service}-{algorithm}-{}.key", &spki[..16]));
    write_atomic(&copy, &read_capped(key)?, 0o600)?;
    Ok(copy.display().to_string())
}

/// A certificate signing request (PKCS #10, PEM) for `key_file` (the staged next key), naming
/// every base of the service (the first also as CN): what an ACME client or a CA is given so
/// that the new certificate carries the key whose record is already published (P-07).
pub fn csr(service: &Service, key_file: &Path) -> Result<String, String> {
    csr_request(service, key_file)?
        .pem()
        .map_err(|e| format!("cannot make the CSR: {e}"))
}

/// The same CSR in DER (what ACME's finalize takes).
pub fn csr_der(service: &Service, key_file: &Path) -> Result<Vec<u8>, String> {
    Ok(csr_request(service, key_file)?.der().to_vec())
}

pub(crate) fn csr_request(
    service: &Service,
    key_file: &Path,
) -> Result<rcgen::CertificateSigningRequest, String> {
    let pem = String::from_utf8(read_capped(key_file)?)
        .map_err(|_| format!("{}: not a PEM file", key_file.display()))?;
    let key = rcgen::KeyPair::from_pem(&pem)
        .map_err(|e| format!("{}: cannot use the key: {e}", key_file.display()))?;
    let names: Vec<String> = service
        .bases
        .iter()
        .map(|b| b.trim_end_matches('.').to_ascii_lowercase())
        .collect();
    let mut params = rcgen::CertificateParams::new(names.clone())
        .map_err(|e| format!("service {}: bases: {e}", service.name))?;
    let mut dn = rcgen::DistinguishedName::new();
    if let Some(first) = names.first() {
        dn.push(rcgen::DnType::CommonName, first.as_str());
    }
    params.distinguished_name = dn;
    params
        .serialize_request(&key)
        .map_err(|e| format!("cannot make the CSR: {e}"))
}
