//! The survey's results as tables, for spreadsheets and data tools: CSV (RFC 4180, through
//! the `csv` crate) and Parquet (through the `parquet` crate's column writer, Snappy
//! compression, row groups of [`ROW_GROUP`] rows so memory stays flat). One row per domain,
//! the same columns in both: [`COLUMNS`]. A row is made from a domain's JSON line, so a
//! resumed run can feed the lines already in its output first and the table is whole.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

/// The columns, in order. Lists (one entry per MX host, or per probe) are space-separated.
pub const COLUMNS: [&str; 9] = [
    "domain",
    "outcome",
    "broken",
    "mx",
    "hosts",
    "decisions",
    "tlsa",
    "probes",
    "reason",
];

/// The columns that may be empty (null in Parquet): `broken` and `mx`.
const OPTIONAL: [usize; 2] = [2, 3];

/// Rows per Parquet row group.
pub const ROW_GROUP: usize = 16_384;

/// One domain's row: [`COLUMNS`], `None` for an absent optional value.
pub type Row = [Option<String>; 9];

/// A domain's row from its JSON line (as `mxdane survey` writes it).
pub fn row(line: &serde_json::Value) -> Row {
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    let hosts: &[serde_json::Value] = line["hosts"].as_array().map_or(&[], Vec::as_slice);
    let per_host = |key: &str| {
        hosts
            .iter()
            .map(|h| h[key].as_str().unwrap_or("-"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let probes = hosts
        .iter()
        .flat_map(|h| {
            let name = h["name"].as_str().unwrap_or("-");
            h["probes"].as_array().into_iter().flatten().map(move |p| {
                format!(
                    "{name}@{}={}",
                    p["address"].as_str().unwrap_or("-"),
                    p["result"].as_str().unwrap_or("-")
                )
            })
        })
        .collect::<Vec<_>>()
        .join(" ");
    [
        Some(text(&line["domain"]).unwrap_or_default()),
        Some(text(&line["outcome"]).unwrap_or_default()),
        text(&line["broken"]),
        text(&line["mx"]),
        Some(per_host("name")),
        Some(per_host("decision")),
        Some(per_host("tlsa")),
        Some(probes),
        Some(text(&line["reason"]).unwrap_or_default()),
    ]
}

/// Writers for the tables asked for.
pub struct Tables {
    csv: Option<(PathBuf, csv::Writer<BufWriter<File>>)>,
    parquet: Option<ParquetTable>,
}

struct ParquetTable {
    path: PathBuf,
    writer: SerializedFileWriter<BufWriter<File>>,
    rows: Vec<Row>,
}

fn failed(path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: cannot write: {e}", path.display())
}

impl Tables {
    /// Creates (or truncates) the files.
    pub fn create(csv: Option<&Path>, parquet: Option<&Path>) -> Result<Self, String> {
        let csv = match csv {
            None => None,
            Some(p) => {
                let f = File::create(p).map_err(|e| failed(p, e))?;
                let mut w = csv::Writer::from_writer(BufWriter::new(f));
                w.write_record(COLUMNS).map_err(|e| failed(p, e))?;
                Some((p.to_path_buf(), w))
            }
        };
        let parquet = match parquet {
            None => None,
            Some(p) => {
                let fields: String = COLUMNS
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let rep = if OPTIONAL.contains(&i) {
                            "OPTIONAL"
                        } else {
                            "REQUIRED"
                        };
                        format!("{rep} BYTE_ARRAY {c} (UTF8); ")
                    })
                    .collect();
                let schema = parse_message_type(&format!("message survey {{ {fields}}}"))
                    .map_err(|e| failed(p, e))?;
                let props = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .set_created_by(format!("mxdane {}", env!("CARGO_PKG_VERSION")))
                    .build();
                let f = File::create(p).map_err(|e| failed(p, e))?;
                let writer =
                    SerializedFileWriter::new(BufWriter::new(f), Arc::new(schema), Arc::new(props))
                        .map_err(|e| failed(p, e))?;
                Some(ParquetTable {
                    path: p.to_path_buf(),
                    writer,
                    rows: Vec::new(),
                })
            }
        };
        Ok(Self { csv, parquet })
    }

    /// Whether any table was asked for.
    pub fn wanted(&self) -> bool {
        self.csv.is_some() || self.parquet.is_some()
    }

    /// Adds one domain's line.
    pub fn add(&mut self, line: &serde_json::Value) -> Result<(), String> {
        if !self.wanted() {
            return Ok(());
        }
        let r = row(line);
        if let Some((p, w)) = &mut self.csv {
            w.write_record(r.iter().map(|v| v.as_deref().unwrap_or("")))
                .map_err(|e| failed(p, e))?;
        }
        if let Some(t) = &mut self.parquet {
            t.rows.push(r);
            if t.rows.len() >= ROW_GROUP {
                t.flush()?;
            }
        }
        Ok(())
    }

    /// Writes what is buffered and closes the files (a Parquet file is readable only then).
    pub fn finish(mut self) -> Result<(), String> {
        if let Some((p, mut w)) = self.csv.take() {
            w.flush().map_err(|e| failed(&p, e))?;
        }
        if let Some(mut t) = self.parquet.take() {
            t.flush()?;
            t.writer.close().map_err(|e| failed(&t.path, e))?;
        }
        Ok(())
    }
}

impl ParquetTable {
    /// Writes the buffered rows as one row group.
    fn flush(&mut self) -> Result<(), String> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let mut group = self.writer.next_row_group().map_err(|e| failed(&path, e))?;
        let mut column = 0;
        while let Some(mut w) = group.next_column().map_err(|e| failed(&path, e))? {
            let values: Vec<ByteArray> = self
                .rows
                .iter()
                .filter_map(|r| r[column].as_deref())
                .map(|v| ByteArray::from(v.as_bytes().to_vec()))
                .collect();
            let levels: Option<Vec<i16>> = OPTIONAL.contains(&column).then(|| {
                self.rows
                    .iter()
                    .map(|r| i16::from(r[column].is_some()))
                    .collect()
            });
            w.typed::<ByteArrayType>()
                .write_batch(&values, levels.as_deref(), None)
                .map_err(|e| failed(&path, e))?;
            w.close().map_err(|e| failed(&path, e))?;
            column += 1;
        }
        group.close().map_err(|e| failed(&path, e))?;
        self.rows.clear();
        Ok(())
    }
}
