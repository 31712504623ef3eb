//! Helpers shared by the CLI test files: run the binary, make scratch directories.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub(crate) mod pebble;
pub(crate) mod pg;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The output of one `mxdane` run.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `mxdane ARGS` with `stdin` as standard input.
pub(crate) fn mxdane(args: &[&str], stdin: &str) -> Run {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mxdane"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mxdane");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out: Output = child.wait_with_output().unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "mxdane panicked: {}",
        run.stderr
    );
    run
}

/// A fresh scratch directory under the system temp dir.
pub(crate) fn scratch(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "mxdane-test-{}-{name}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `content` to `dir/name` and returns the path as a string.
pub(crate) fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> String {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p.display().to_string()
}

/// A path in ../shared.
pub(crate) fn shared(rel: &str) -> String {
    let base = std::env::var_os("MXDANE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    base.join(rel).display().to_string()
}

/// Compares `actual` with the golden file `tests/golden/NAME`; `UPDATE_GOLDEN=1` rewrites it.
pub(crate) fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
    assert_eq!(actual, expected, "output differs from {}", path.display());
}

/// tests/verdicts.txt: every demo domain, the verdict `mxdane check` must reach, and whether
/// only the in-process lab can stage it.
pub(crate) fn verdicts() -> Vec<(String, mxdane::check::Verdict, bool)> {
    use mxdane::check::Verdict;
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/verdicts.txt"),
    )
    .unwrap();
    let out: Vec<(String, Verdict, bool)> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let verdict = [
                Verdict::Ok,
                Verdict::Warning,
                Verdict::Critical,
                Verdict::Unknown,
            ]
            .into_iter()
            .find(|v| v.name() == f[1])
            .unwrap_or_else(|| panic!("verdicts.txt: unknown verdict in {l:?}"));
            (f[0].to_owned(), verdict, f.get(2) == Some(&"lab-only"))
        })
        .collect();
    assert!(out.len() >= 30, "verdicts.txt lists {} domains", out.len());
    out
}

/// The flags that point a command at the lab world `lab`: its resolver, its trust anchor
/// (written to `dir`), a 5-second step and every route.
pub(crate) fn lab_flags(lab: &mxdane::demo::Demo, dir: &Path) -> Vec<String> {
    let mut flags = vec![
        "--resolver".to_owned(),
        lab.resolver.to_string(),
        "--trust-anchor".into(),
        write(dir, "anchor", lab.world.trust_anchor_text()),
        "--timeout".into(),
        "5".into(),
    ];
    for (a, b) in &lab.routes {
        flags.push("--route".into());
        flags.push(format!("{a}={b}"));
    }
    flags
}
