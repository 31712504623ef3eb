//! One message to send: its envelope and its text, checked so that nothing can be smuggled
//! into the commands, with the lines folded and dot-stuffed as sent.

/// The longest line sent in a message, without its CRLF (RFC 5321 section 4.5.3.1.6).
pub const LINE_LIMIT: usize = 998;

/// One message: the envelope and the text.
#[derive(Clone, Debug)]
pub struct Envelope {
    pub(super) from: String,
    pub(super) to: Vec<String>,
    pub(super) data: Vec<u8>,
    pub(super) eight_bit: bool,
    pub(super) utf8_addresses: bool,
    pub(super) verify_only: bool,
}

impl Envelope {
    /// A message from `from` (empty for a bounce) to `to`, its text `data` (header and body;
    /// line ends become CRLF). Addresses with spaces, angle brackets or control characters are
    /// refused, so that nothing can be smuggled into the commands.
    pub fn new(from: &str, to: &[String], data: &[u8]) -> Result<Self, String> {
        let bad = |a: &str| {
            a.len() > 254
                || a.chars()
                    .any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>')
        };
        if bad(from) {
            return Err(format!("sender address {from:?} is not usable"));
        }
        if to.is_empty() {
            return Err("no recipient".into());
        }
        if let Some(a) = to.iter().find(|a| bad(a) || !a.contains('@')) {
            return Err(format!("recipient address {a:?} is not usable"));
        }
        // RFC 5321 section 4.5.2: a line that starts with a dot gets another; every line ends
        // in CRLF. Section 4.5.3.1.6: lines are at most 998 octets; a longer one is broken
        // by inserting CRLF SPACE, as Postfix does (smtp_line_length_limit).
        // A bare CR ends a line too, so that no "\r.\r" can end the message early at a
        // lenient server (SMTP smuggling).
        let mut text = Vec::with_capacity(data.len() + 64);
        let lines = data
            .split(|b| *b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .flat_map(|l| l.split(|b| *b == b'\r'));
        for line in lines {
            if line.first() == Some(&b'.') {
                text.push(b'.');
            }
            let mut rest = line;
            let mut room = LINE_LIMIT - usize::from(line.first() == Some(&b'.'));
            while rest.len() > room {
                text.extend_from_slice(&rest[..room]);
                text.extend_from_slice(b"\r\n ");
                rest = &rest[room..];
                room = LINE_LIMIT - 1;
            }
            text.extend_from_slice(rest);
            text.extend_from_slice(b"\r\n");
        }
        if data.ends_with(b"\n") {
            text.truncate(text.len() - 2);
        }
        // A recipient given twice gets one RCPT (and one copy), as in Postfix.
        let mut unique: Vec<String> = Vec::with_capacity(to.len());
        for a in to {
            if !unique.contains(a) {
                unique.push(a.clone());
            }
        }
        Ok(Self {
            from: from.to_owned(),
            to: unique,
            eight_bit: !data.is_ascii(),
            utf8_addresses: !from.is_ascii() || to.iter().any(|a| !a.is_ascii()),
            data: text,
            verify_only: false,
        })
    }

    /// Stops after RCPT (then RSET): which recipients the server would take, without
    /// sending the message (`mxdane send --dry-run`).
    pub fn verify_only(mut self) -> Self {
        self.verify_only = true;
        self
    }

    /// The recipients.
    pub fn recipients(&self) -> &[String] {
        &self.to
    }

    /// The same message for some of the recipients.
    pub fn for_recipients(&self, to: &[String]) -> Self {
        Self {
            to: to.to_vec(),
            ..self.clone()
        }
    }

    /// The text's size in octets as sent (dot-stuffed, CRLF).
    pub fn size(&self) -> usize {
        self.data.len()
    }
}
