//! Issue 17, hermetic: `mxdane survey` over generated lab worlds. The outcome counts equal the
//! world's known composition; one SMTP probe serves every domain that shares a host; input
//! comments, blanks, duplicates and bad names are handled; a run killed part-way and resumed
//! writes exactly what an uninterrupted run writes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::OnceLock;
use std::time::Duration;

use mxdane::demo::{Kind, generated_hosts, generated_name};
use mxdane::survey::{Domains, Survey, SurveyOptions};

mod common;

const N: usize = 1000;

fn world() -> &'static mxdane::demo::Demo {
    static LAB: OnceLock<mxdane::demo::Demo> = OnceLock::new();
    LAB.get_or_init(|| mxdane::demo::generated(N, Duration::ZERO).unwrap())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn options(dns_only: bool) -> SurveyOptions {
    SurveyOptions {
        scope: if dns_only {
            mxdane::survey::Scope::DnsOnly
        } else {
            mxdane::survey::Scope::Probe
        },
        concurrency: 32,
        ..SurveyOptions::default()
    }
}

fn input(n: usize) -> String {
    (0..n).map(|i| generated_name(i) + "\n").collect()
}

#[test]
fn v01_outcome_counts_equal_the_generated_worlds_composition_with_one_probe_per_host() {
    let rt = runtime();
    let survey = Survey::new(world().env.clone(), options(false));
    // Comments, blanks, a repeated name in another case and with a final dot, a bad name.
    let text = format!(
        "# customers\n\n{}{}\nthis is not a domain\n{}.\n",
        input(N),
        generated_name(3).to_uppercase(),
        generated_name(7)
    );
    let mut out = Vec::new();
    let summary = rt
        .block_on(mxdane::survey::run(
            &survey,
            Domains::new(text.as_bytes()),
            0,
            &mut out,
            |_| {},
        ))
        .unwrap();
    let mut want: BTreeMap<&str, u64> = BTreeMap::new();
    for i in 0..N {
        let o = match Kind::of(i) {
            Kind::Verified => "dane-verified",
            Kind::Broken => "dane-broken",
            Kind::NoTlsa => "signed-no-tlsa",
            Kind::Unsigned => "no-dnssec",
        };
        *want.entry(o).or_default() += 1;
    }
    want.insert("invalid", 1);
    assert_eq!(summary.outcomes, want, "{}", summary.text());
    assert_eq!(summary.domains, N as u64 + 1, "duplicates are skipped");
    assert_eq!(
        summary.broken,
        BTreeMap::from([("mismatch".to_owned(), 100)]),
        "{}",
        summary.text()
    );
    // Two kinds of DANE host (good and bad), one address each: one probe per host for the run.
    assert_eq!(summary.probes, 2 * generated_hosts(N) as u64);
    // The lines are in input order, one per domain.
    let text = String::from_utf8(out).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["domain"], generated_name(0));
    assert_eq!(first["outcome"], "dane-verified");
    assert_eq!(first["hosts"][0]["probes"][0]["result"], "verified");
    let broken: serde_json::Value = serde_json::from_str(text.lines().nth(6).unwrap()).unwrap();
    assert_eq!(
        (broken["outcome"].as_str(), broken["broken"].as_str()),
        (Some("dane-broken"), Some("mismatch"))
    );
    // The chart names every outcome.
    let svg = summary.svg();
    assert!(
        svg.starts_with("<svg")
            && svg.contains("dane-verified")
            && svg.contains("broken: mismatch")
    );
}

#[test]
fn v02_dns_only_makes_no_probe_and_says_published() {
    let rt = runtime();
    let survey = Survey::new(world().env.clone(), options(true));
    let mut out = Vec::new();
    let s = rt
        .block_on(mxdane::survey::run(
            &survey,
            Domains::new(input(100).as_bytes()),
            0,
            &mut out,
            |_| {},
        ))
        .unwrap();
    assert_eq!(s.probes, 0);
    assert_eq!(s.outcomes["dane-published"], 70, "{}", s.text());
    assert_eq!(s.outcomes["signed-no-tlsa"], 10);
    assert_eq!(s.outcomes["no-dnssec"], 20);
}

#[test]
fn v03_a_run_killed_part_way_and_resumed_writes_what_an_uninterrupted_run_writes() {
    let rt = runtime();
    let dir = std::env::temp_dir().join(format!("mxdane-survey-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let n = 300;
    let whole = dir.join("whole.jsonl");
    {
        let survey = Survey::new(world().env.clone(), options(false));
        let mut f = std::fs::File::create(&whole).unwrap();
        rt.block_on(mxdane::survey::run(
            &survey,
            Domains::new(input(n).as_bytes()),
            0,
            &mut f,
            |_| {},
        ))
        .unwrap();
    }
    let parts = dir.join("parts.jsonl");
    {
        let survey = Survey::new(world().env.clone(), options(false));
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&parts)
            .unwrap();
        let text = input(n);
        rt.block_on(async {
            let watch = async {
                for _ in 0..4000 {
                    let k = std::fs::read_to_string(&parts).unwrap_or_default().lines().count();
                    if k >= 50 {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            };
            // Killed: the run is dropped where it stands.
            tokio::select! {
                r = mxdane::survey::run(&survey, Domains::new(text.as_bytes()), 0, &mut f, |_| {}) => {
                    panic!("the run finished before it was killed: {r:?}")
                }
                () = watch => {}
            }
        });
    }
    // As if the kill had cut the last line short.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&parts)
        .unwrap()
        .write_all(b"{\"broken\":null,\"domain\":\"d4")
        .unwrap();
    let done = mxdane::survey::resume_point(&parts).unwrap();
    assert!((50..n as u64).contains(&done), "{done}");
    {
        let survey = Survey::new(world().env.clone(), options(false));
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&parts)
            .unwrap();
        rt.block_on(mxdane::survey::run(
            &survey,
            Domains::new(input(n).as_bytes()),
            done,
            &mut f,
            |_| {},
        ))
        .unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&parts).unwrap(),
        std::fs::read_to_string(&whole).unwrap()
    );
    assert_eq!(mxdane::survey::summarise(&parts).unwrap().domains, n as u64);
    // A file that is not a survey's output is refused, and left alone.
    let other = dir.join("other.txt");
    std::fs::write(&other, "hello\n").unwrap();
    let e = mxdane::survey::resume_point(&other).unwrap_err();
    assert!(e.contains("not a survey output"), "{e}");
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "hello\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn v04_the_command_line_writes_lines_a_summary_and_a_chart_and_resumes() {
    static DEMO: OnceLock<mxdane::demo::Demo> = OnceLock::new();
    let l = DEMO.get_or_init(|| mxdane::demo::start().unwrap());
    let dir = common::scratch("survey-cli");
    let mut args: Vec<String> = vec!["survey".into()];
    args.extend(common::lab_flags(l, &dir));
    let out = dir.join("out.jsonl").display().to_string();
    let summary = dir.join("summary.json").display().to_string();
    let chart = dir.join("chart.svg").display().to_string();
    args.extend([
        "-o".into(),
        out.clone(),
        "--summary".into(),
        summary.clone(),
        "--chart".into(),
        chart.clone(),
    ]);
    let input = "ee.test\n# a comment\nstrip.test\ninsecure.test\nnullmx.test\nEE.test.\n";
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = common::mxdane(&a, input);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "the lines go to -o");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(&str, &str)> = lines
        .iter()
        .map(|v| {
            (
                v["domain"].as_str().unwrap(),
                v["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("ee.test", "dane-verified"),
            ("strip.test", "dane-broken"),
            ("insecure.test", "no-dnssec"),
            ("nullmx.test", "null-mx")
        ]
    );
    assert_eq!(
        lines[1]["broken"], "no-starttls",
        "a stripped STARTTLS breaks DANE"
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(s["domains"], 4);
    assert_eq!(s["outcomes"]["dane-broken"], 1);
    assert!(std::fs::read_to_string(&chart).unwrap().contains("<svg"));
    assert!(run.stderr.contains("4 domains"), "{}", run.stderr);
    // Resumed with more input: the first four are kept, the fifth is added.
    args.push("--resume".into());
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = common::mxdane(&a, &format!("{input}mismatch.test\n"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 5);
    assert!(
        text.lines()
            .last()
            .unwrap()
            .contains("\"broken\":\"mismatch\""),
        "{text}"
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(s["domains"], 5, "the summary is the whole run's");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn v05_a_generated_world_served_by_lab_serve_is_surveyed_through_its_flags_file() {
    let dir = common::scratch("survey-lab-serve");
    let flags = dir.join("flags");
    let mut lab = std::process::Command::new(env!("CARGO_BIN_EXE_mxdane"))
        .args([
            "lab",
            "serve",
            "--seconds",
            "120",
            "--generated",
            "50",
            "--flags-file",
        ])
        .arg(&flags)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        if flags.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut args: Vec<String> = vec!["survey".into()];
    args.extend(
        std::fs::read_to_string(&flags)
            .unwrap()
            .lines()
            .map(str::to_owned),
    );
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = common::mxdane(&a, &input(50));
    let _ = lab.kill();
    let _ = lab.wait();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let verified = run
        .stdout
        .lines()
        .filter(|l| l.contains("\"outcome\":\"dane-verified\""))
        .count();
    assert_eq!(verified, 30, "{}", run.stdout);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn v08_a_queue_that_cannot_be_reached_is_named_without_its_password_and_exits_3() {
    let run = common::mxdane(
        &[
            "survey",
            "--queue",
            "postgres://worker:s3cret@127.0.0.1:1/survey",
            "--report",
        ],
        "",
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("postgres://worker@127.0.0.1:1/survey"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("s3cret"), "{}", run.stderr);
}

/// A Parquet file's rows, each column as text (empty for null).
fn parquet_rows(path: &std::path::Path) -> Vec<Vec<String>> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;
    let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    reader
        .get_row_iter(None)
        .unwrap()
        .map(|row| {
            row.unwrap()
                .get_column_iter()
                .map(|(_, f)| match f {
                    Field::Str(s) => s.clone(),
                    Field::Null => String::new(),
                    other => panic!("a column that is not text: {other:?}"),
                })
                .collect()
        })
        .collect()
}

#[test]
fn v09_csv_and_parquet_tables_hold_every_domain_and_survive_a_resume() {
    let w = world();
    let dir = common::scratch("survey-tables");
    let mut base: Vec<String> = vec!["survey".into(), "--concurrency".into(), "128".into()];
    base.extend(common::lab_flags(w, &dir));
    let run = |name: &str, input: &str, resume: bool| {
        let mut args = base.clone();
        for (flag, ext) in [("-o", "jsonl"), ("--csv", "csv"), ("--parquet", "parquet")] {
            args.push(flag.into());
            args.push(dir.join(format!("{name}.{ext}")).display().to_string());
        }
        if resume {
            args.push("--resume".into());
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = common::mxdane(&a, input);
        assert_eq!(r.code, 0, "{}", r.stderr);
    };
    // Uninterrupted; then the same in two parts (the first 600 domains, then resumed).
    run("whole", &input(N), false);
    run("parts", &input(600), false);
    run("parts", &input(N), true);
    let csv_rows = |name: &str| -> Vec<Vec<String>> {
        let mut r = csv::Reader::from_path(dir.join(format!("{name}.csv"))).unwrap();
        assert_eq!(
            r.headers().unwrap().iter().collect::<Vec<_>>(),
            mxdane::survey_table::COLUMNS
        );
        r.records()
            .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
            .collect()
    };
    let whole = csv_rows("whole");
    assert_eq!(whole.len(), N);
    assert_eq!(csv_rows("parts"), whole, "a resumed run's CSV is whole");
    assert_eq!(
        parquet_rows(&dir.join("whole.parquet")),
        whole,
        "Parquet holds what CSV holds"
    );
    assert_eq!(parquet_rows(&dir.join("parts.parquet")), whole);
    // The rows say what the JSON lines say, and the composition holds.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("whole.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (i, (row, line)) in whole.iter().zip(&lines).enumerate() {
        assert_eq!(row[0], generated_name(i));
        assert_eq!(row[0], line["domain"].as_str().unwrap());
        assert_eq!(row[1], line["outcome"].as_str().unwrap());
        *counts.entry(row[1].clone()).or_default() += 1;
        if Kind::of(i) == Kind::Broken {
            assert_eq!(row[2], "mismatch");
            assert!(
                row[4].starts_with("bad") && row[7].ends_with("=mismatch"),
                "{row:?}"
            );
        } else {
            assert_eq!(row[2], "", "{row:?}");
        }
    }
    assert_eq!(counts["dane-verified"], N * 6 / 10);
    assert_eq!(counts["dane-broken"], N / 10);
    assert_eq!(counts["no-dnssec"], N * 2 / 10);
    // A table that cannot be written: exit 3, named, before any work.
    let mut args = base.clone();
    args.extend(["--parquet".into(), "/nonexistent/dir/t.parquet".into()]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = common::mxdane(&a, &input(10));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("/nonexistent/dir/t.parquet"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty(), "nothing surveyed: {}", r.stdout);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn v10_ns_rate_spaces_the_domains_of_one_set_of_nameservers() {
    // 100 domains: 80 in signed.test, 20 in plain.test (not zone apexes: each goes by its
    // parent zone). At 50 a second per zone, signed.test's 80 need at least 79/50 s.
    let w = world();
    let survey = Survey::new(
        w.env.clone(),
        SurveyOptions {
            ns_rate: Some(50),
            ..options(true)
        },
    );
    let started = std::time::Instant::now();
    let s = runtime()
        .block_on(mxdane::survey::run(
            &survey,
            Domains::new(input(100).as_bytes()),
            0,
            &mut std::io::sink(),
            |_| {},
        ))
        .unwrap();
    let took = started.elapsed();
    assert_eq!(s.domains, 100);
    assert_eq!(s.outcomes["dane-published"], 70, "{:?}", s.outcomes);
    assert!(
        took >= Duration::from_millis(1500),
        "80 domains of one zone at 50/s took only {took:?}"
    );
    assert_eq!(
        survey.pacer().unwrap().keys(),
        2,
        "one key per zone: signed.test and plain.test"
    );
}
