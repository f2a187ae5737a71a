//! A one-pass scan of a received message for the few things a broker acts on: whether it
//! is durable, where it is addressed (`properties.to`, `properties.subject`) and its body.
//!
//! [`crate::message::Message::decode`] reads and checks every field of every section; an
//! appliance taking millions of published messages a second needs far less. The scan
//! checks the structure of every section (section order, descriptor, every value's
//! encoded length within its section, nesting depth) and the types of the fields it
//! returns, and skips the content of everything else without allocating.

use core::fmt;

use crate::codes::descriptor as d;
use crate::engine::codec::{as_bool, as_str, as_text, value_len, DecodeError, Fields};
use crate::message::rank;
use crate::{Map, Reader, Value};

/// A received message's sections, as far as a broker reads them; every part borrows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sections<'a> {
    /// `header.durable` (false without a header).
    pub durable: bool,
    /// `properties.to`.
    pub to: Option<&'a str>,
    /// `properties.subject`.
    pub subject: Option<&'a str>,
    /// The `message-annotations` map, read lazily (its entries are checked as they are
    /// looked up, e.g. with [`Map::get_symbol`]).
    pub message_annotations: Option<Map<'a>>,
    /// The encoded body sections, descriptors included (empty without a body).
    pub body: &'a [u8],
    /// The payload when the body is exactly one `data` section.
    pub data: Option<&'a [u8]>,
}

/// A message whose sections are malformed: the publisher's fault; the text says what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanError(pub &'static str);

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed message: {}", self.0)
    }
}

impl std::error::Error for ScanError {}

impl From<DecodeError> for ScanError {
    fn from(e: DecodeError) -> Self {
        ScanError(e.0)
    }
}

/// The section code of the described value at `b[0]`, and the descriptor's length.
fn descriptor(b: &[u8]) -> Result<(u8, usize), ScanError> {
    match *b {
        [0x00, 0x53, c, ..] => Ok((c, 3)),
        [0x00, 0x80, 0, 0, 0, 0, 0, 0, 0, c, ..] => Ok((c, 10)),
        [0x00, 0xa3 | 0xb3, ..] => {
            Err(ScanError("symbolic section descriptors are not supported"))
        }
        [0x00, ..] => Err(ScanError("section descriptor is not a known ulong")),
        [] => Err(ScanError("truncated section")),
        _ => Err(ScanError("a section is not a described value")),
    }
}

impl<'a> Sections<'a> {
    /// Scans `bytes`, the concatenated transfer payloads of one delivery.
    pub fn scan(bytes: &'a [u8]) -> Result<Self, ScanError> {
        let mut s = Sections::default();
        let mut pos = 0;
        let mut last: Option<(u8, u8)> = None;
        let mut body_start = None;
        let mut body_count = 0u32;
        while pos < bytes.len() {
            let rest = &bytes[pos..];
            let (code, dlen) = descriptor(rest)?;
            let rk = rank(u64::from(code)).ok_or(ScanError("unknown section descriptor"))?;
            let repeatable = matches!(u64::from(code), d::DATA | d::AMQP_SEQUENCE);
            let continues = repeatable && last == Some((rk, code));
            if matches!(last, Some((lr, _)) if lr > rk || (lr == rk && !continues)) {
                return Err(ScanError("sections out of order or repeated"));
            }
            last = Some((rk, code));
            let value = &rest[dlen..];
            let vlen = value_len(value)?;
            let value = &value[..vlen];
            match u64::from(code) {
                d::HEADER => s.durable = header_durable(value)?,
                d::PROPERTIES => (s.to, s.subject) = properties_to_subject(value)?,
                d::MESSAGE_ANNOTATIONS => s.message_annotations = annotations(value)?,
                d::DELIVERY_ANNOTATIONS | d::APPLICATION_PROPERTIES | d::FOOTER => {
                    expect_map(value)?
                }
                d::DATA => {
                    let payload = binary(value)?;
                    s.data = if continues { None } else { Some(payload) };
                }
                d::AMQP_SEQUENCE => expect_list(value)?,
                _ => {}
            }
            if rk == 5 {
                body_start.get_or_insert(pos);
                body_count += 1;
                s.body = &bytes[body_start.unwrap_or(pos)..pos + dlen + vlen];
            }
            pos += dlen + vlen;
        }
        if body_count != 1 {
            s.data = None;
        }
        Ok(s)
    }
}

fn header_durable(list: &[u8]) -> Result<bool, ScanError> {
    let (mut f, _) = Fields::open(list)?;
    let durable = f.next_raw()?.map(as_bool).transpose()?.unwrap_or(false);
    f.skip_rest()?;
    Ok(durable)
}

fn properties_to_subject(list: &[u8]) -> Result<(Option<&str>, Option<&str>), ScanError> {
    let (mut f, _) = Fields::open(list)?;
    f.skip(2)?; // message-id, user-id
    let to = f.next_raw()?.map(as_text).transpose()?;
    let subject = f.next_raw()?.map(as_str).transpose()?;
    f.skip_rest()?;
    Ok((to, subject))
}

fn annotations(v: &[u8]) -> Result<Option<Map<'_>>, ScanError> {
    match Value::decode(&mut Reader::new(v)) {
        Ok(Value::Map(m)) => Ok(Some(m)),
        Ok(Value::Null) => Ok(None),
        _ => Err(ScanError("the message-annotations section is not a map")),
    }
}

fn expect_map(v: &[u8]) -> Result<(), ScanError> {
    match v[0] {
        0xc1 | 0xd1 => Ok(()),
        0x40 => Ok(()),
        _ => Err(ScanError(
            "an annotations or properties section is not a map",
        )),
    }
}

fn expect_list(v: &[u8]) -> Result<(), ScanError> {
    match v[0] {
        0x45 | 0xc0 | 0xd0 => Ok(()),
        _ => Err(ScanError("an amqp-sequence section is not a list")),
    }
}

fn binary(v: &[u8]) -> Result<&[u8], ScanError> {
    match v[0] {
        0xa0 => Ok(&v[2..]),
        0xb0 => Ok(&v[5..]),
        _ => Err(ScanError("a data section is not binary")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Header, Message, MessageWriter, Properties};
    use crate::Encoder;

    fn encode(f: impl FnOnce(&mut MessageWriter<'_, '_, Vec<u8>>)) -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = Encoder::new(&mut out);
        let mut w = MessageWriter::new(&mut e);
        f(&mut w);
        out
    }

    #[test]
    fn reads_durable_to_subject_and_the_one_data_payload() {
        let m = encode(|w| {
            w.header(&Header {
                durable: true,
                ..Header::default()
            });
            w.map_section_with(d::MESSAGE_ANNOTATIONS, |e| {
                e.symbol("x-opt-k").string("v");
            });
            w.properties(&Properties {
                to: Some("pub/keyed"),
                subject: Some("opra/SPY/SPY261218C00450000"),
                ..Properties::default()
            });
            w.data(b"sixty-four bytes or so");
        });
        let s = Sections::scan(&m).unwrap();
        assert!(s.durable);
        assert_eq!(s.to, Some("pub/keyed"));
        assert_eq!(s.subject, Some("opra/SPY/SPY261218C00450000"));
        assert_eq!(s.data, Some(&b"sixty-four bytes or so"[..]));
        let ann = s.message_annotations.expect("annotations");
        assert_eq!(ann.get_symbol("x-opt-k").unwrap(), Some(Value::String("v")));
        let full = Message::decode(&m).unwrap();
        match full.body {
            crate::message::Body::Data(b) => assert_eq!(b.raw(), s.body),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn several_data_sections_keep_the_body_but_no_single_payload() {
        let m = encode(|w| {
            w.data(b"one").data(b"two");
        });
        let s = Sections::scan(&m).unwrap();
        assert!(!s.durable && s.subject.is_none() && s.data.is_none());
        assert_eq!(s.body, &m[..]);
        assert_eq!(Sections::scan(&[]).unwrap(), Sections::default());
    }

    #[test]
    fn malformed_sections_are_reported_never_read_past() {
        let good = encode(|w| {
            w.properties(&Properties {
                subject: Some("s"),
                ..Properties::default()
            });
            w.data(&[7; 64]);
        });
        // The data section starts at its descriptor; a cut there is a whole message.
        let boundary = good.len() - 3 - 2 - 64;
        for cut in (1..good.len()).filter(|&c| c != boundary) {
            assert!(Sections::scan(&good[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(
            Sections::scan(&good[..boundary]).unwrap().subject,
            Some("s")
        );
        let swapped = encode(|w| {
            w.data(b"body first");
            w.properties(&Properties::default());
        });
        assert!(Sections::scan(&swapped).is_err());
        assert!(Sections::scan(&[0x00, 0x53, 0x75, 0x42]).is_err());
        assert!(Sections::scan(&[0x00, 0x53, 0x99, 0x40]).is_err());
        assert!(Sections::scan(b"\x41").is_err());
    }

    #[test]
    fn agrees_with_the_full_decoder_on_what_both_accept() {
        // Every prefix and single-byte corruption of a rich message: whenever the full
        // decoder accepts, the scan accepts and reads the same fields.
        let m = encode(|w| {
            w.header(&Header {
                durable: true,
                ..Header::default()
            });
            w.properties(&Properties {
                to: Some("a"),
                subject: Some("b"),
                ..Properties::default()
            });
            w.data(&[1, 2, 3]);
        });
        for i in 0..m.len() {
            for x in [0x00u8, 0x40, 0x41, 0xa1, 0xff] {
                let mut c = m.clone();
                c[i] = x;
                if let Ok(full) = Message::decode(&c) {
                    let s = Sections::scan(&c).unwrap_or_else(|e| panic!("{i} {x}: {e}"));
                    assert_eq!(s.durable, full.header.is_some_and(|h| h.durable));
                    assert_eq!(s.subject, full.properties.and_then(|p| p.subject));
                }
            }
        }
    }
}
