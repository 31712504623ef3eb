//! The external-program tier: our output against openssl's pipeline from the seed how-to,
//! GnuTLS `danetool --tlsa-rr` and hash-slinger's `tlsa --create`, on certificates and keys made
//! at test time. `.ci/run` runs these with `--ignored`; a missing program is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{mxdane, scratch, write};
use mxdane_lab::certs::{KeyAlg, Pki};

fn sh(script: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn require(program: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .unwrap()
        .status
        .success();
    assert!(
        found,
        "{program} is not installed: the external tier needs it (see .ci/run)"
    );
}

/// The hex of the first line of `text` that has `u s m`, in any of the three programs' formats.
fn record_hex(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.contains("TLSA"))
        .unwrap_or_else(|| panic!("no TLSA line in {text}"));
    let rdata = line
        .split(" ; ")
        .next()
        .unwrap()
        .split("TLSA")
        .nth(1)
        .unwrap();
    let fields: Vec<&str> = rdata
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split_whitespace()
        .collect();
    fields[3..].concat().to_lowercase()
}

fn ours(cert: &str, variant: &str) -> String {
    let run = mxdane(
        &[
            "tlsa",
            "generate",
            "--cert",
            cert,
            "--host",
            "mx.example.test",
            "--variant",
            variant,
        ],
        "",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    record_hex(&run.stdout)
}

const ALGS: [KeyAlg; 4] = [
    KeyAlg::Rsa2048,
    KeyAlg::EcdsaP256,
    KeyAlg::EcdsaP384,
    KeyAlg::Ed25519,
];

#[test]
#[ignore = "needs openssl"]
fn t11_equals_the_openssl_pipeline_of_the_how_to() {
    require("openssl");
    let mut compared = 0;
    for alg in ALGS {
        let dir = scratch("openssl");
        let pki = Pki::new(alg, "mx.example.test");
        let cert = write(&dir, "leaf.pem", pki.leaf.pem());
        let spki256 = sh(&format!(
            "openssl x509 -in {cert} -noout -pubkey | openssl pkey -pubin -outform DER | openssl sha256 -r"
        ));
        let cert256 = sh(&format!(
            "openssl x509 -in {cert} -outform DER | openssl sha256 -r"
        ));
        let cert512 = sh(&format!(
            "openssl x509 -in {cert} -outform DER | openssl sha512 -r"
        ));
        let spki512 = sh(&format!(
            "openssl x509 -in {cert} -noout -pubkey | openssl pkey -pubin -outform DER | openssl sha512 -r"
        ));
        // openssl must have produced a digest of the right length, not an error message.
        let first = |s: &str, hex_len: usize| {
            let d = s.split_whitespace().next().unwrap_or("").to_owned();
            assert!(
                d.len() == hex_len && d.bytes().all(|b| b.is_ascii_hexdigit()),
                "{alg:?}: openssl did not print a digest: {s}"
            );
            d
        };
        assert_eq!(ours(&cert, "3 1 1"), first(&spki256, 64), "{alg:?} 3 1 1");
        assert_eq!(ours(&cert, "3 0 1"), first(&cert256, 64), "{alg:?} 3 0 1");
        assert_eq!(ours(&cert, "3 0 2"), first(&cert512, 128), "{alg:?} 3 0 2");
        assert_eq!(ours(&cert, "3 1 2"), first(&spki512, 128), "{alg:?} 3 1 2");
        compared += 4;
    }
    println!(
        "oracle openssl (digest pipeline): {compared} comparisons of {} cases",
        ALGS.len() * 4
    );
    assert_eq!(compared, ALGS.len() * 4);
}

#[test]
#[ignore = "needs openssl"]
fn t11_private_keys_in_every_openssl_form_yield_their_public_half() {
    require("openssl");
    let dir = scratch("keys");
    let d = dir.display();
    let forms = [
        (
            "rsa-pkcs1.pem",
            format!("openssl genrsa -traditional -out {d}/rsa-pkcs1.pem 2048"),
        ),
        (
            "rsa-pkcs8.pem",
            format!(
                "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out {d}/rsa-pkcs8.pem"
            ),
        ),
        (
            "ec-sec1.pem",
            format!("openssl ecparam -name prime256v1 -genkey -noout -out {d}/ec-sec1.pem"),
        ),
        (
            "ec384-pkcs8.pem",
            format!(
                "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out {d}/ec384-pkcs8.pem"
            ),
        ),
        (
            "ed25519.pem",
            format!("openssl genpkey -algorithm ED25519 -out {d}/ed25519.pem"),
        ),
    ];
    let pki = Pki::new(KeyAlg::EcdsaP256, "mx.example.test");
    let cert = write(&dir, "leaf.pem", pki.leaf.pem());
    for (file, make) in forms {
        sh(&make);
        let key = format!("{d}/{file}");
        let expected = sh(&format!(
            "openssl pkey -in {key} -pubout -outform DER | openssl sha256 -r"
        ));
        let der = format!("{d}/{file}.der");
        sh(&format!("openssl pkey -in {key} -outform DER -out {der}"));
        for input in [&key, &der] {
            let run = mxdane(
                &[
                    "tlsa",
                    "generate",
                    "--cert",
                    &cert,
                    "--key",
                    input,
                    "--host",
                    "mx.example.test",
                ],
                "",
            );
            assert_eq!(run.code, 0, "{input}: {}", run.stderr);
            let next = run
                .stdout
                .lines()
                .find(|l| l.contains("; next:"))
                .unwrap_or_else(|| panic!("{input}: {}", run.stdout));
            assert_eq!(
                record_hex(next),
                expected.split_whitespace().next().unwrap(),
                "{input}"
            );
        }
    }
}

#[test]
#[ignore = "needs danetool"]
fn t11_equals_danetool() {
    require("danetool");
    let mut compared = 0;
    for alg in ALGS {
        let dir = scratch("danetool");
        let pki = Pki::new(alg, "mx.example.test");
        let cert = write(&dir, "leaf.pem", pki.leaf.pem());
        let ca = write(&dir, "ca.pem", pki.intermediate.pem());
        for (variant, flags) in [
            ("3 1 1", ""),
            ("3 0 1", "--x509"),
            ("3 1 2", "--hash sha512"),
            ("3 0 2", "--x509 --hash sha512"),
        ] {
            let theirs = sh(&format!(
                "danetool --tlsa-rr --host mx.example.test --port 25 --load-certificate {cert} {flags}"
            ));
            assert_eq!(
                ours(&cert, variant),
                record_hex(&theirs),
                "{alg:?} {variant}: {theirs}"
            );
            compared += 1;
        }
        let theirs = sh(&format!(
            "danetool --tlsa-rr --host mx.example.test --port 25 --load-certificate {ca} --ca"
        ));
        assert!(theirs.contains("( 02 01 01 "), "{theirs}");
        let run = mxdane(
            &[
                "tlsa",
                "generate",
                "--cert",
                &cert,
                "--chain",
                &ca,
                "--host",
                "mx.example.test",
                "--variant",
                "2 1 1",
            ],
            "",
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(
            record_hex(&run.stdout),
            record_hex(&theirs),
            "{alg:?} 2 1 1"
        );
        compared += 1;
    }
    println!(
        "oracle danetool: {compared} comparisons of {} cases",
        ALGS.len() * 5
    );
    assert_eq!(compared, ALGS.len() * 5);
}

#[test]
#[ignore = "needs hash-slinger"]
fn t11_equals_hash_slinger() {
    require("tlsa");
    let mut compared = 0;
    for alg in ALGS {
        let dir = scratch("hashslinger");
        let pki = Pki::new(alg, "mx.example.test");
        let cert = write(&dir, "leaf.pem", pki.leaf.pem());
        let ca = write(&dir, "ca.pem", pki.intermediate.pem());
        for (u, s, m) in [(3, 1, 1), (3, 0, 1), (3, 1, 2), (3, 0, 2), (2, 1, 1)] {
            // Usage 2 pins the issuing CA: hash-slinger hashes the certificate it is given, so
            // it gets the CA, and ours comes from the leaf plus its chain (issue 19: this used
            // to compare the leaf's 3 1 1 twice).
            let subject = if u == 2 { &ca } else { &cert };
            let theirs = sh(&format!(
                "tlsa --create --certificate {subject} --usage {u} --selector {s} --mtype {m} --port 25 mx.example.test"
            ));
            let ours_hex = if u == 2 {
                let run = mxdane(
                    &[
                        "tlsa",
                        "generate",
                        "--cert",
                        &cert,
                        "--chain",
                        &ca,
                        "--host",
                        "mx.example.test",
                        "--variant",
                        "2 1 1",
                    ],
                    "",
                );
                assert_eq!(run.code, 0, "{}", run.stderr);
                record_hex(&run.stdout)
            } else {
                ours(&cert, &format!("{u} {s} {m}"))
            };
            assert_eq!(
                ours_hex,
                record_hex(&theirs),
                "{alg:?} {u} {s} {m}: {theirs}"
            );
            compared += 1;
        }
    }
    println!(
        "oracle hash-slinger: {compared} comparisons of {} cases",
        ALGS.len() * 5
    );
    assert_eq!(compared, ALGS.len() * 5);
}
