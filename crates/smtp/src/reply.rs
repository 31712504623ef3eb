//! Reading SMTP replies (RFC 5321 section 4.2) with limits: line length, number of lines,
//! and one code per reply (S-07).

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

use crate::SmtpError;

/// A reply: its code and its text lines (without the code and separator).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The text of each line.
    pub lines: Vec<String>,
}

impl Reply {
    /// `250 first line` (continuation lines joined with ` / `).
    pub fn summary(&self) -> String {
        format!("{} {}", self.code, self.lines.join(" / "))
    }
}

/// Limits on what a server may send.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Longest reply line in octets, CRLF included (RFC 5321 section 4.5.3.1.5 says 512; we
    /// allow some slack).
    pub line: usize,
    /// Most lines in one reply.
    pub lines: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            line: 2048,
            lines: 100,
        }
    }
}

/// Reads one (possibly multi-line) reply.
pub async fn read_reply<R: AsyncBufRead + Unpin>(
    r: &mut R,
    limits: Limits,
) -> Result<Reply, SmtpError> {
    let mut code = None;
    let mut lines = Vec::new();
    loop {
        if lines.len() >= limits.lines {
            return Err(SmtpError::Protocol(format!(
                "a reply longer than {} lines",
                limits.lines
            )));
        }
        let mut buf = Vec::new();
        let limit = u64::try_from(limits.line).unwrap_or(u64::MAX);
        let n = (&mut *r).take(limit).read_until(b'\n', &mut buf).await?;
        if n == 0 {
            return Err(SmtpError::Closed);
        }
        if buf.last() != Some(&b'\n') {
            return Err(SmtpError::Protocol(if n as u64 >= limit {
                format!("a reply line longer than {} octets", limits.line)
            } else {
                "the connection closed in the middle of a reply line".to_owned()
            }));
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end_matches(['\r', '\n']);
        let bytes = line.as_bytes();
        if bytes.len() < 3 || !bytes[..3].iter().all(u8::is_ascii_digit) {
            return Err(SmtpError::Protocol(format!("not an SMTP reply: {line:?}")));
        }
        let this: u16 = line[..3]
            .parse()
            .map_err(|_| SmtpError::Protocol(format!("bad reply code in {line:?}")))?;
        if *code.get_or_insert(this) != this {
            return Err(SmtpError::Protocol(format!(
                "reply lines with different codes ({} and {this})",
                code.unwrap_or(0)
            )));
        }
        let (more, text) = match bytes.get(3) {
            Some(b'-') => (true, &line[4..]),
            Some(b' ') => (false, &line[4..]),
            None => (false, ""),
            Some(_) => {
                return Err(SmtpError::Protocol(format!(
                    "bad reply separator in {line:?}"
                )));
            }
        };
        lines.push(text.to_owned());
        if !more {
            return Ok(Reply { code: this, lines });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(text: &str) -> Result<Reply, SmtpError> {
        let mut r = text.as_bytes();
        read_reply(&mut r, Limits { line: 64, lines: 4 }).await
    }

    #[tokio::test]
    async fn multi_line_replies_and_their_limits() {
        let r = read("250-first\r\n250-STARTTLS\r\n250 last\r\n")
            .await
            .unwrap();
        assert_eq!((r.code, r.lines.len()), (250, 3));
        assert_eq!(read("220\r\n").await.unwrap().lines, [""]);
        let bad = [
            ("250-a\r\n251 b\r\n", "different codes"),
            ("25 x\r\n", "not an SMTP reply"),
            ("250_x\r\n", "separator"),
            ("250-a\r\n250-b\r\n250-c\r\n250-d\r\n250 e\r\n", "lines"),
            ("250 no end of line", "middle of a reply line"),
        ];
        for (text, want) in bad {
            let e = read(text).await.unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
        let long = format!("250 {}\r\n", "x".repeat(100));
        assert!(
            read(&long)
                .await
                .unwrap_err()
                .to_string()
                .contains("longer than 64")
        );
        assert!(matches!(read("").await, Err(SmtpError::Closed)));
    }
}
