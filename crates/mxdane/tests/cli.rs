//! The `mxdane tlsa` commands end to end: output, JSON, exit codes and bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{golden, mxdane, scratch, shared, write};
use mxdane_lab::certs::{CertSpec, KeyAlg, Pki};

#[test]
fn t11_generate_current_plus_next_then_lint_and_verify() {
    let dir = scratch("gen");
    let pki = Pki::new(KeyAlg::EcdsaP256, "mx.example.test");
    let chain = write(&dir, "fullchain.pem", pki.full_chain_pem());
    let next = CertSpec::leaf(&["mx.example.test"])
        .key_slot(3)
        .self_signed();
    let key = write(&dir, "next.key", next.key_pem());
    let run = mxdane(
        &[
            "tlsa",
            "generate",
            "--cert",
            &chain,
            "--key",
            &key,
            "--host",
            "MX.example.test",
        ],
        "",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(
        lines[0].starts_with("_25._tcp.mx.example.test. IN TLSA 3 1 1 "),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains(
            "; current: subject=\"CN=mx.example.test\" issuer=\"CN=Lab Issuer\" notAfter="
        ),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains("; next: key=ECDSA P-256"), "{}", lines[1]);

    // The generated zone lints clean against the chain, and the chain verifies against it.
    let zone = write(&dir, "zone", &run.stdout);
    let lint = mxdane(&["tlsa", "lint", &zone, "--chain", &chain], "");
    assert_eq!(lint.code, 0, "{}", lint.stdout);
    let verify = mxdane(
        &[
            "tlsa",
            "verify",
            "--chain",
            &chain,
            "--name",
            "mx.example.test",
            "--tlsa-file",
            &zone,
        ],
        "",
    );
    assert_eq!(verify.code, 0, "{}", verify.stdout);
    assert!(
        verify.stdout.contains("matched at depth 0"),
        "{}",
        verify.stdout
    );

    // The next key alone does not authenticate today's chain.
    let next_only = lines[1]
        .split(" ; ")
        .next()
        .unwrap()
        .split("TLSA ")
        .nth(1)
        .unwrap();
    let verify = mxdane(
        &[
            "tlsa",
            "verify",
            "--chain",
            &chain,
            "--name",
            "mx.example.test",
            "--tlsa",
            next_only,
        ],
        "",
    );
    assert_eq!(verify.code, 1, "{}", verify.stdout);
    assert!(
        verify.stdout.contains("not authenticated"),
        "{}",
        verify.stdout
    );

    let json = mxdane(
        &[
            "--json",
            "tlsa",
            "generate",
            "--cert",
            &chain,
            "--host",
            "mx.example.test",
        ],
        "",
    );
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        v["records"][0]["rdata"]
            .as_str()
            .unwrap()
            .split(' ')
            .take(3)
            .collect::<Vec<_>>(),
        ["3", "1", "1"]
    );
    assert_eq!(v["records"][1]["role"], "issuer");
    assert_eq!(v["records"][1]["usage"], 2);
}

#[test]
fn t11_generate_golden_from_a_fixed_certificate() {
    let cert = shared("vectors/gnutls/cert-ecc256.pem");
    let run = mxdane(
        &[
            "tlsa",
            "generate",
            "--cert",
            &cert,
            "--host",
            "www.example.com",
            "--port",
            "443",
            "--variant",
            "3 1 1",
            "--variant",
            "DANE-EE Cert SHA2-512",
        ],
        "",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    // dane-test.rr from GnuTLS pins this certificate with 3 1 1 5978dd1d...
    assert!(run.stdout.contains("_443._tcp.www.example.com. IN TLSA 3 1 1 5978dd1d2d23e992075dc359d5dd14f7ef79748af97f2b7809c9ebfd6016c433"));
    golden("generate-ecc256.txt", &run.stdout);
    let json = mxdane(
        &[
            "--json",
            "tlsa",
            "generate",
            "--cert",
            &cert,
            "--host",
            "www.example.com",
            "--port",
            "443",
            "--preset",
            "current",
        ],
        "",
    );
    golden("generate-ecc256.json", &json.stdout);
    // The verify document, pinned the same way: the record GnuTLS publishes matches at depth
    // 0; an unrelated DANE-TA record does not.
    let json = mxdane(
        &[
            "--json",
            "tlsa",
            "verify",
            "--chain",
            &cert,
            "--name",
            "www.example.com",
            "--at",
            "2026-01-01T00:00:00Z",
            "--tlsa",
            "2 1 1 0101010101010101010101010101010101010101010101010101010101010101",
            "--tlsa",
            "3 1 1 5978dd1d2d23e992075dc359d5dd14f7ef79748af97f2b7809c9ebfd6016c433",
        ],
        "",
    );
    assert_eq!(json.code, 0, "{}", json.stderr);
    golden("verify-ecc256.json", &json.stdout);
}

const LINT_INPUT: &str = "\
$ORIGIN example.test.
$TTL 86400
_25._tcp.mx IN TLSA 1 1 1 abababababababababababababababababababababababababababababababab
_25._tcp.mx IN TLSA 3 0 2 cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd
_25._tcp.mx2 1800 IN TLSA 3 1 1 0101010101010101010101010101010101010101010101010101010101010101
_25._tcp.mx2 1800 IN TLSA 3 1 1 0202020202020202020202020202020202020202020202020202020202020202
";

// Issue 13: a digest of the wrong length is a finding (exit 1) like every other unusable
// record, not bad input (exit 2).
#[test]
fn t02_lint_reports_a_wrong_length_digest_as_a_finding() {
    let run = mxdane(&["tlsa", "lint"], "3 1 1 abcd\n");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.contains("[digest-length]"), "{}", run.stdout);
    assert!(run.stdout.contains("64 hex digits"), "{}", run.stdout);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

#[test]
fn t12_lint_reports_and_exit_codes() {
    let run = mxdane(&["tlsa", "lint"], LINT_INPUT);
    assert_eq!(run.code, 1, "an unusable record exits 1: {}", run.stdout);
    assert!(run.stdout.contains("[pkix-usage]"), "{}", run.stdout);
    golden("lint.txt", &run.stdout);
    let json = mxdane(&["--json", "tlsa", "lint", "-"], LINT_INPUT);
    assert_eq!(json.code, 1);
    golden("lint.json", &json.stdout);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["errors"], 1);

    // Only the clean owner: warnings at most, exit 0.
    let clean: String = LINT_INPUT
        .lines()
        .filter(|l| !l.contains("_25._tcp.mx "))
        .map(|l| format!("{l}\n"))
        .collect();
    let run = mxdane(&["tlsa", "lint"], &clean);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.contains("0 error(s)"), "{}", run.stdout);
}

#[test]
fn t12_lint_with_dual_algorithm_chains() {
    let dir = scratch("dual");
    let rsa = Pki::new(KeyAlg::Rsa2048, "mx.example.test");
    let ec = Pki::new(KeyAlg::EcdsaP256, "mx.example.test");
    let rsa_chain = write(&dir, "rsa.pem", rsa.full_chain_pem());
    let ec_chain = write(&dir, "ec.pem", ec.full_chain_pem());
    let next = write(
        &dir,
        "next.key",
        CertSpec::leaf(&["x"]).key_slot(5).self_signed().key_pem(),
    );
    let only_rsa = mxdane(
        &[
            "tlsa",
            "generate",
            "--cert",
            &rsa_chain,
            "--key",
            &next,
            "--host",
            "mx.example.test",
        ],
        "",
    );
    let zone = write(&dir, "zone", &only_rsa.stdout);
    let run = mxdane(
        &[
            "tlsa", "lint", &zone, "--chain", &rsa_chain, "--chain", &ec_chain,
        ],
        "",
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("[chain-fails]") && run.stdout.contains("ec.pem"),
        "{}",
        run.stdout
    );
    let both = mxdane(
        &[
            "tlsa",
            "generate",
            "--cert",
            &rsa_chain,
            "--cert",
            &ec_chain,
            "--key",
            &next,
            "--host",
            "mx.example.test",
        ],
        "",
    );
    let zone = write(&dir, "zone2", &both.stdout);
    let run = mxdane(
        &[
            "tlsa", "lint", &zone, "--chain", &rsa_chain, "--chain", &ec_chain,
        ],
        "",
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
}

#[test]
fn t06_t07_verify_dane_ee_ignores_names_and_dates_but_dane_ta_does_not() {
    let dir = scratch("verify");
    let root = CertSpec::ca("Lab Root").key_slot(100).self_signed();
    let expired = CertSpec::leaf(&["other.example"])
        .expired()
        .signed_by(&root);
    let chain = write(
        &dir,
        "chain.pem",
        format!("{}{}", expired.pem(), root.pem()),
    );
    let generated = mxdane(
        &[
            "tlsa",
            "generate",
            "--cert",
            &chain,
            "--host",
            "mx.example.test",
            "--variant",
            "3 1 1",
            "--variant",
            "2 1 1",
        ],
        "",
    );
    let zone = write(&dir, "zone", &generated.stdout);
    let ee: Vec<&str> = generated
        .stdout
        .lines()
        .map(|l| {
            l.split(" ; ")
                .next()
                .unwrap()
                .split("TLSA ")
                .nth(1)
                .unwrap()
        })
        .collect();
    let run = mxdane(
        &[
            "tlsa",
            "verify",
            "--chain",
            &chain,
            "--name",
            "mx.example.test",
            "--tlsa",
            ee[0],
            "--at",
            "2030-01-01T00:00:00Z",
        ],
        "",
    );
    assert_eq!(
        run.code, 0,
        "expired leaf with a wrong name passes DANE-EE: {}",
        run.stdout
    );
    let run = mxdane(
        &[
            "--json",
            "tlsa",
            "verify",
            "--chain",
            &chain,
            "--name",
            "mx.example.test",
            "--tlsa",
            ee[1],
        ],
        "",
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["verdict"], "not-authenticated");
    assert_eq!(v["records"][0]["result"], "chain-invalid");
    assert!(
        v["records"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{}",
        run.stdout
    );
    let run = mxdane(
        &[
            "tlsa",
            "verify",
            "--chain",
            &chain,
            "--name",
            "mx.example.test",
            "--tlsa-file",
            &zone,
        ],
        "",
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
}

// T-07 and `--at`: the same DANE-TA(2) record authenticates a valid chain today and fails once
// the leaf has expired.
#[test]
fn t07_verify_dane_ta_today_and_after_expiry() {
    let dir = scratch("verify-ta");
    let pki = Pki::new(KeyAlg::EcdsaP256, "mx.example.test");
    let chain = write(&dir, "chain.pem", pki.full_chain_pem());
    let generated = mxdane(
        &[
            "tlsa",
            "generate",
            "--cert",
            &chain,
            "--host",
            "mx.example.test",
            "--variant",
            "2 1 1",
        ],
        "",
    );
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    let zone = write(&dir, "zone", &generated.stdout);
    let args = |extra: &[&'static str]| {
        let mut a = vec![
            "--json",
            "tlsa",
            "verify",
            "--chain",
            chain.as_str(),
            "--name",
            "mx.example.test",
            "--tlsa-file",
            zone.as_str(),
        ];
        a.extend_from_slice(extra);
        a.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |a: Vec<String>| {
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        mxdane(&refs, "")
    };
    let today = run(args(&[]));
    assert_eq!(today.code, 0, "{}", today.stdout);
    let v: serde_json::Value = serde_json::from_str(&today.stdout).unwrap();
    assert_eq!(v["verdict"], "authenticated");
    assert_eq!(v["matched"]["depth"], 1);
    assert_eq!(v["records"][0]["anchor"]["subject"], "CN=Lab Issuer");
    assert_eq!(v["records"][0]["anchor"]["position"], 1);
    assert_eq!(v["records"][0]["depth"], 1);
    let later = run(args(&["--at", "2099-01-01T00:00:00Z"]));
    assert_eq!(later.code, 1, "{}", later.stdout);
    let v: serde_json::Value = serde_json::from_str(&later.stdout).unwrap();
    assert_eq!(v["records"][0]["result"], "chain-invalid");
    let wrong_name = run(vec![
        "tlsa".into(),
        "verify".into(),
        "--chain".into(),
        chain.clone(),
        "--name".into(),
        "other.example.test".into(),
        "--tlsa-file".into(),
        zone.clone(),
    ]);
    assert_eq!(wrong_name.code, 1, "{}", wrong_name.stdout);
    assert!(
        wrong_name.stdout.contains("name-mismatch"),
        "{}",
        wrong_name.stdout
    );
}

#[test]
fn bad_input_is_named_and_exits_2() {
    let dir = scratch("bad");
    let pki = Pki::new(KeyAlg::EcdsaP256, "mx.example.test");
    let leaf_der = pki.leaf.der();
    let truncated = write(&dir, "trunc.der", &leaf_der[..leaf_der.len() / 2]);
    let csr = write(
        &dir,
        "req.pem",
        "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n",
    );
    let good = write(&dir, "leaf.pem", pki.leaf.pem());
    let long_label = "a".repeat(64);
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (
            vec![
                "tlsa",
                "generate",
                "--cert",
                "/nonexistent/x.pem",
                "--host",
                "mx.example",
            ],
            "",
            "/nonexistent/x.pem",
        ),
        (
            vec![
                "tlsa",
                "generate",
                "--cert",
                &truncated,
                "--host",
                "mx.example",
            ],
            "",
            "trunc.der",
        ),
        (
            vec!["tlsa", "generate", "--cert", &csr, "--host", "mx.example"],
            "",
            "CERTIFICATE REQUEST",
        ),
        (
            vec![
                "tlsa",
                "generate",
                "--cert",
                &good,
                "--host",
                "bad..example",
            ],
            "",
            "bad..example",
        ),
        (
            vec!["tlsa", "generate", "--cert", &good, "--host", &long_label],
            "",
            "more than 63",
        ),
        (
            vec![
                "tlsa",
                "generate",
                "--cert",
                &good,
                "--host",
                "mx.example",
                "--variant",
                "3 1 XX",
            ],
            "",
            "XX",
        ),
        (vec!["tlsa", "lint"], "3 1 SHA2-999 abcd\n", "SHA2-999"),
        (
            vec!["tlsa", "lint"],
            "bad..owner. IN TLSA 3 1 1 ab\n",
            "bad..owner.",
        ),
        (vec!["tlsa", "lint"], "; nothing\n", "no TLSA record"),
        (
            vec![
                "tlsa",
                "verify",
                "--chain",
                &good,
                "--name",
                "mx.example",
                "--tlsa",
                "3 1 2 abcd",
            ],
            "",
            "3 1 2 abcd",
        ),
        (
            vec![
                "tlsa",
                "verify",
                "--chain",
                &good,
                "--name",
                "mx.example",
                "--tlsa",
                "3 1 1 zz",
            ],
            "",
            "must be hex",
        ),
        (
            vec![
                "tlsa",
                "verify",
                "--chain",
                &good,
                "--name",
                "mx.example",
                "--tlsa",
                "3 1 1 ab",
                "--at",
                "tomorrow",
            ],
            "",
            "tomorrow",
        ),
    ];
    for (args, stdin, named) in cases {
        let run = mxdane(&args, stdin);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.starts_with("mxdane: "),
            "{args:?}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains(named),
            "{args:?} should name {named}: {}",
            run.stderr
        );
    }
}

#[test]
fn help_documents_exit_codes() {
    let run = mxdane(&["tlsa", "lint", "--help"], "");
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("Exit status:"), "{}", run.stdout);
}

/// Issue 13: the exit status is the verdict's even when nobody reads standard output (a pipe
/// closed early, as `mxdane ... | head -0` does): a mismatch still exits 1, not 0. And input
/// that never ends (`/dev/zero`) is refused at a size cap instead of exhausting memory.
#[test]
fn exit_status_does_not_depend_on_stdout_and_inputs_are_capped() {
    use std::process::{Command, Stdio};
    let chain = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/fullchain.pem");
    let zeros = format!("3 1 1 {}", "00".repeat(32));
    let args = [
        "tlsa",
        "verify",
        "--chain",
        chain,
        "--name",
        "mail.example.com",
        "--tlsa",
        zeros.as_str(),
    ];
    // With stdout read: no record matches, exit 1.
    assert_eq!(mxdane(&args, "").code, 1);
    // With stdout closed before mxdane writes: still 1.
    let mut child = Command::new(env!("CARGO_BIN_EXE_mxdane"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Numbers out of range are usage errors, not panics (check: unknown, 3).
    let days = mxdane(&["check", "example.test", "--expiry-days", "3000000"], "");
    assert_eq!(days.code, 3, "{}", days.stderr);
    assert!(days.stderr.contains("0..=3650"), "{}", days.stderr);
    let zero = mxdane(&["tlsa", "lint", "/dev/zero"], "");
    assert_eq!(zero.code, 2);
    assert!(zero.stderr.contains("more than 16 MiB"), "{}", zero.stderr);
}

// Issue 13: `tlsa generate --cert chain.pem` (CA certificates only) is refused instead of
// pinning the intermediate's key as "current"; a full chain in reverse order still pins the
// server's own key.
#[test]
fn generate_never_pins_a_ca_as_current() {
    use mxdane_lab::certs::{KeyAlg, Pki};
    let dir = scratch("generate-order");
    let pki = Pki::new(KeyAlg::EcdsaP256, "mail.example.com");
    let chain = write(
        &dir,
        "chain.pem",
        format!("{}{}", pki.intermediate.pem(), pki.root.pem()),
    );
    let run = mxdane(
        &[
            "tlsa",
            "generate",
            "--cert",
            &chain,
            "--host",
            "mail.example.com",
        ],
        "",
    );
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stderr.contains("only CA certificates"),
        "{}",
        run.stderr
    );
    let reversed = write(
        &dir,
        "reversed.pem",
        format!(
            "{}{}{}",
            pki.root.pem(),
            pki.intermediate.pem(),
            pki.leaf.pem()
        ),
    );
    let run = mxdane(
        &[
            "tlsa",
            "generate",
            "--cert",
            &reversed,
            "--host",
            "mail.example.com",
            "--preset",
            "current",
        ],
        "",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let leaf = mxdane_tlsa::read_material(pki.leaf.pem().as_bytes())
        .unwrap()
        .certificates[0]
        .clone();
    let want = mxdane_tlsa::association_data(
        mxdane_tlsa::Subject::Certificate(&leaf),
        mxdane_tlsa::Selector::Spki,
        mxdane_tlsa::MatchingType::Sha256,
    )
    .unwrap();
    let hex: String = want.iter().map(|b| format!("{b:02x}")).collect();
    assert!(run.stdout.contains(&hex), "{}", run.stdout);
}

// Issue 13: what `tlsa generate` cannot produce is an error that names it, never an empty
// output with exit 0; and --key alone prints the next key's record (published first).
#[test]
fn generate_names_what_it_cannot_produce() {
    let ex = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let cert = format!("{ex}/fullchain.pem");
    let next = format!("{ex}/next-key.pem");
    let dir = scratch("generate-bad");
    let unrelated = write(
        &dir,
        "unrelated.pem",
        mxdane_lab::certs::CertSpec::ca("Unrelated CA")
            .key_slot(35)
            .self_signed()
            .pem(),
    );
    let base = ["tlsa", "generate", "--cert", cert.as_str()];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--host", "mail.example.com", "--variant", "3 1 3"],
            "matching type",
        ),
        (
            vec!["--host", "mail.example.com", "--variant", "3 2 1"],
            "selector",
        ),
        (
            vec!["--host", "_25._tcp.mail.example.com"],
            "already a TLSA owner name",
        ),
        (vec!["--host", "192.0.2.1"], "an IP address"),
        (
            vec!["--host", "mail.example.com", "--port", "0"],
            "0 is not in 1..=65535",
        ),
        (
            vec!["--host", "mail.example.com", "--chain", unrelated.as_str()],
            "issues none of the certificates",
        ),
    ];
    for (extra, want) in cases {
        let args: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).collect();
        let run = mxdane(&args, "");
        assert_eq!(run.code, 2, "{args:?}: {}", run.stdout);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
        assert!(run.stderr.contains(want), "{args:?}: {}", run.stderr);
    }
    let run = mxdane(
        &[
            "tlsa",
            "generate",
            "--key",
            next.as_str(),
            "--host",
            "mail.example.com",
        ],
        "",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("IN TLSA 3 1 1 ") && run.stdout.contains("; next:"),
        "{}",
        run.stdout
    );
    // Issue 13: an internationalised host name is converted to A-labels (UTS 46), and one
    // that cannot be converted is refused with the name quoted.
    let run = mxdane(
        &[
            "tlsa",
            "generate",
            "--key",
            next.as_str(),
            "--host",
            "MX.Bücher.example",
        ],
        "",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with("_25._tcp.mx.xn--bcher-kva.example. IN TLSA 3 1 1 "),
        "{}",
        run.stdout
    );
    let run = mxdane(
        &[
            "tlsa",
            "generate",
            "--key",
            next.as_str(),
            "--host",
            "a\u{2028}b.example",
        ],
        "",
    );
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stderr.contains("--host: ") && run.stderr.contains("internationalised"),
        "{}",
        run.stderr
    );
}

// Issue 13: usage errors read like every other error ("mxdane: ..."), and control characters
// from the input are escaped on stderr too.
#[test]
fn usage_errors_are_prefixed_and_control_characters_escaped() {
    let run = mxdane(&["tlsa", "generate", "--host"], "");
    assert_eq!(run.code, 2);
    assert!(run.stderr.starts_with("mxdane: "), "{}", run.stderr);
    let run = mxdane(&["check", "example.test", "--ehlo", "bad name!"], "");
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.starts_with("mxdane: --ehlo: "), "{}", run.stderr);
    let run = mxdane(&["tlsa", "lint", "-"], "3 1 1 \u{1b}[31mred\u{7}\n");
    assert_eq!(run.code, 2);
    assert!(
        !run.stderr.contains('\u{1b}') && !run.stderr.contains('\u{7}'),
        "{:?}",
        run.stderr
    );
    assert!(run.stderr.contains("\\x1b[31mred\\x07"), "{}", run.stderr);
}

// Issue 13: shell completions and a manual page come from the same command definition; bash
// accepts the completion script as syntax, and both name the subcommands.
#[test]
fn completions_and_man_page() {
    let bash = mxdane(&["completions", "bash"], "");
    assert_eq!(bash.code, 0, "{}", bash.stderr);
    assert!(bash.stdout.contains("check") && bash.stdout.contains("--recursive"));
    let dir = scratch("completions");
    let script = write(&dir, "mxdane.bash", &bash.stdout);
    let syntax = std::process::Command::new("bash")
        .args(["-n", &script])
        .output()
        .unwrap();
    assert!(
        syntax.status.success(),
        "{}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    for shell in ["zsh", "fish"] {
        let run = mxdane(&["completions", shell], "");
        assert_eq!(run.code, 0);
        assert!(run.stdout.contains("check"), "{shell}");
    }
    let man = mxdane(&["man"], "");
    assert_eq!(man.code, 0);
    assert!(man.stdout.contains(".TH mxdane 1") && man.stdout.contains("check"));
    assert_eq!(mxdane(&["completions", "tcsh"], "").code, 2);
}

/// The options (`--long` and `-4`-style short ones) named in `text`.
fn options_in(text: &str) -> std::collections::BTreeSet<String> {
    let mut found = std::collections::BTreeSet::new();
    for word in
        text.split(|c: char| c.is_whitespace() || matches!(c, '[' | ']' | '(' | ')' | '|' | ','))
    {
        let flag: String = word
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let long =
            flag.len() > 2 && flag.starts_with("--") && flag.as_bytes()[2].is_ascii_lowercase();
        let short = flag.len() == 2 && flag.starts_with('-') && flag.as_bytes()[1].is_ascii_digit();
        if long || short {
            found.insert(flag);
        }
    }
    found
}

// Issue 13: every command's --help and README's synopsis name the same options, so neither
// documents a flag that does not exist or hides one that does.
#[test]
fn readme_synopses_name_every_option_of_help() {
    let readme = include_str!("../../../README.md");
    for command in [
        "tlsa generate",
        "tlsa lint",
        "tlsa verify",
        "dns",
        "check",
        "monitor",
        "survey",
        "send",
    ] {
        // Every synopsis line of the command, with its continuation lines.
        let mut synopsis = String::new();
        let mut inside = false;
        for line in readme.lines() {
            if line.starts_with(&format!("mxdane {command} ")) {
                inside = true;
            } else if !line.starts_with(' ') {
                inside = false;
            }
            if inside {
                synopsis.push_str(line);
                synopsis.push('\n');
            }
        }
        assert!(!synopsis.is_empty(), "README has no synopsis for {command}");
        let mut args: Vec<&str> = command.split(' ').collect();
        args.push("--help");
        let help = mxdane(&args, "");
        assert_eq!(help.code, 0);
        // Options as --help lists them (lines that start with the option), without the
        // global --json and --help.
        let listed: String = help
            .stdout
            .lines()
            .filter(|l| l.trim_start().starts_with('-'))
            .map(|l| l.trim_start().split("  ").next().unwrap_or("").to_owned() + "\n")
            .collect();
        let mut from_help = options_in(&listed);
        from_help.remove("--help");
        from_help.remove("--json");
        assert_eq!(
            options_in(&synopsis),
            from_help,
            "README's synopsis of {command} and its --help name different options"
        );
    }
}
