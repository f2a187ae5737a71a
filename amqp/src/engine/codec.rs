//! The engine's small private AMQP codec: bounded field readers over a described list and
//! appenders for the few types the performatives use.
//!
//! The engine needs only to skip any value, read scalar fields of a performative, and write
//! performatives; this module does exactly that without allocating (the part-1 codec owns
//! the full type system). Every read is bounded by the slice it was given.

/// A malformed or truncated encoding; the text goes into an `amqp:decode-error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DecodeError(pub &'static str);

type R<T> = Result<T, DecodeError>;

/// Deepest nesting of described/compound values we follow before calling it malformed.
const MAX_DEPTH: u32 = 32;

fn be_u32(b: &[u8], at: usize) -> R<u32> {
    let s = b.get(at..at + 4).ok_or(DecodeError("truncated length"))?;
    Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// The total encoded length of the value that starts at `buf[0]`.
#[inline]
pub(crate) fn value_len(buf: &[u8]) -> R<usize> {
    match buf.first() {
        // null, true, false, uint0, ulong0, list0: the commonest fields, one byte.
        Some(0x40..=0x45) => Ok(1),
        Some(&c) if c != 0x00 => scalar_len(buf, c),
        _ => value_len_at(buf, 0),
    }
}

/// Length of a value that is not described, from its constructor `code` = `buf[0]`.
#[inline]
fn scalar_len(buf: &[u8], code: u8) -> R<usize> {
    let n = match code >> 4 {
        0x4 if code <= 0x45 => 1,
        0x5 => 2,
        0x6 => 3,
        0x7 => 5,
        0x8 => 9,
        0x9 => 17,
        0xa | 0xc | 0xe => 2 + *buf.get(1).ok_or(DecodeError("truncated size"))? as usize,
        0xb | 0xd | 0xf => 5 + be_u32(buf, 1)? as usize,
        _ => return Err(DecodeError("unknown type constructor")),
    };
    if n > buf.len() {
        return Err(DecodeError("value runs past the end of its frame"));
    }
    Ok(n)
}

fn value_len_at(buf: &[u8], depth: u32) -> R<usize> {
    if depth > MAX_DEPTH {
        return Err(DecodeError("values nested too deeply"));
    }
    let code = *buf.first().ok_or(DecodeError("truncated value"))?;
    if code == 0x00 {
        let d = value_len_at(&buf[1..], depth + 1)?;
        let v = value_len_at(buf.get(1 + d..).ok_or(DecodeError("truncated"))?, depth + 1)?;
        return Ok(1 + d + v);
    }
    scalar_len(buf, code)
}

/// Fields of one list, read front to back; missing trailing fields read as null.
#[derive(Debug, Clone)]
pub(crate) struct Fields<'a> {
    rest: &'a [u8],
    left: u32,
}

impl<'a> Fields<'a> {
    /// Opens the list at `buf[0]`; returns the reader and the list's encoded length.
    pub(crate) fn open(buf: &'a [u8]) -> R<(Self, usize)> {
        let total = value_len(buf)?;
        let (count, body) = match buf[0] {
            0x45 => (0, &buf[1..1]),
            0xc0 => {
                let c = *buf.get(2).ok_or(DecodeError("truncated list"))?;
                (
                    u32::from(c),
                    buf.get(3..total).ok_or(DecodeError("bad list size"))?,
                )
            }
            0xd0 => {
                let c = be_u32(buf, 5)?;
                (c, buf.get(9..total).ok_or(DecodeError("bad list size"))?)
            }
            _ => return Err(DecodeError("performative body is not a list")),
        };
        Ok((
            Self {
                rest: body,
                left: count,
            },
            total,
        ))
    }

    /// The raw encoding of the next field, or `None` once the list is exhausted.
    pub(crate) fn next_raw(&mut self) -> R<Option<&'a [u8]>> {
        if self.left == 0 {
            return Ok(None);
        }
        let n = value_len(self.rest)?;
        let (v, rest) = self.rest.split_at(n);
        self.rest = rest;
        self.left -= 1;
        Ok(if v[0] == 0x40 { None } else { Some(v) })
    }

    /// Checks nothing is left over once the count is exhausted.
    #[cfg(test)]
    pub(crate) fn finish(&self) -> R<()> {
        if self.left == 0 && !self.rest.is_empty() {
            return Err(DecodeError("bytes left over after the last list field"));
        }
        Ok(())
    }

    pub(crate) fn uint(&mut self) -> R<Option<u32>> {
        self.next_raw()?.map(as_uint).transpose()
    }
    pub(crate) fn ulong(&mut self) -> R<Option<u64>> {
        self.next_raw()?.map(as_ulong).transpose()
    }
    pub(crate) fn ushort(&mut self) -> R<Option<u16>> {
        self.next_raw()?.map(as_ushort).transpose()
    }
    pub(crate) fn ubyte(&mut self) -> R<Option<u8>> {
        self.next_raw()?.map(as_ubyte).transpose()
    }
    pub(crate) fn boolean(&mut self) -> R<Option<bool>> {
        self.next_raw()?.map(as_bool).transpose()
    }
    pub(crate) fn string(&mut self) -> R<Option<&'a str>> {
        self.next_raw()?.map(as_str).transpose()
    }
    pub(crate) fn binary(&mut self) -> R<Option<&'a [u8]>> {
        self.next_raw()?.map(as_bin).transpose()
    }
    /// Skips every field left (checking each one's encoded length) and checks nothing
    /// follows the last.
    pub(crate) fn skip_rest(&mut self) -> R<()> {
        while self.left > 0 {
            self.next_raw()?;
        }
        if !self.rest.is_empty() {
            return Err(DecodeError("bytes left over after the last list field"));
        }
        Ok(())
    }

    pub(crate) fn skip(&mut self, n: usize) -> R<()> {
        for _ in 0..n {
            self.next_raw()?;
        }
        Ok(())
    }
}

fn bad<T>(what: &'static str) -> R<T> {
    Err(DecodeError(what))
}

pub(crate) fn as_uint(v: &[u8]) -> R<u32> {
    match (v[0], v.len()) {
        (0x43, 1) => Ok(0),
        (0x52, 2) => Ok(u32::from(v[1])),
        (0x70, 5) => be_u32(v, 1),
        _ => bad("expected a uint"),
    }
}

pub(crate) fn as_ulong(v: &[u8]) -> R<u64> {
    match (v[0], v.len()) {
        (0x44, 1) => Ok(0),
        (0x53, 2) => Ok(u64::from(v[1])),
        (0x80, 9) => Ok(u64::from_be_bytes(
            v[1..9].try_into().map_err(|_| DecodeError("ulong"))?,
        )),
        _ => as_uint(v).map(u64::from).or(bad("expected a ulong")),
    }
}

pub(crate) fn as_ushort(v: &[u8]) -> R<u16> {
    match (v[0], v.len()) {
        (0x60, 3) => Ok(u16::from_be_bytes([v[1], v[2]])),
        _ => bad("expected a ushort"),
    }
}

pub(crate) fn as_ubyte(v: &[u8]) -> R<u8> {
    match (v[0], v.len()) {
        (0x50, 2) => Ok(v[1]),
        _ => bad("expected a ubyte"),
    }
}

pub(crate) fn as_bool(v: &[u8]) -> R<bool> {
    match (v[0], v.len()) {
        (0x41, 1) => Ok(true),
        (0x42, 1) => Ok(false),
        (0x56, 2) if v[1] <= 1 => Ok(v[1] == 1),
        _ => bad("expected a boolean"),
    }
}

/// Payload of a variable-width value (binary, string, symbol), without its header.
fn var_payload(v: &[u8], small: u8, large: u8) -> Option<&[u8]> {
    if v[0] == small {
        v.get(2..)
    } else if v[0] == large {
        v.get(5..)
    } else {
        None
    }
}

pub(crate) fn as_str(v: &[u8]) -> R<&str> {
    let p = var_payload(v, 0xa1, 0xb1).ok_or(DecodeError("expected a string"))?;
    std::str::from_utf8(p).map_err(|_| DecodeError("string is not valid UTF-8"))
}

pub(crate) fn as_sym(v: &[u8]) -> R<&str> {
    let p = var_payload(v, 0xa3, 0xb3).ok_or(DecodeError("expected a symbol"))?;
    std::str::from_utf8(p).map_err(|_| DecodeError("symbol is not ASCII"))
}

/// A string or a symbol (some peers send either where text is expected).
pub(crate) fn as_text(v: &[u8]) -> R<&str> {
    as_sym(v).or_else(|_| as_str(v))
}

pub(crate) fn as_bin(v: &[u8]) -> R<&[u8]> {
    var_payload(v, 0xa0, 0xb0).ok_or(DecodeError("expected binary"))
}

/// Splits a described value into (descriptor, value) raw encodings.
pub(crate) fn described(v: &[u8]) -> R<(&[u8], &[u8])> {
    if v.first() != Some(&0x00) {
        return bad("expected a described value");
    }
    let d = value_len(&v[1..])?;
    Ok((&v[1..1 + d], &v[1 + d..]))
}

/// A descriptor as a numeric code (symbolic descriptors are mapped by name).
pub(crate) fn descriptor_code(d: &[u8]) -> R<u64> {
    if let Ok(c) = as_ulong(d) {
        return Ok(c);
    }
    let name = as_sym(d)?;
    SYMBOLIC
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| *c)
        .ok_or(DecodeError("unknown symbolic descriptor"))
}

const SYMBOLIC: [(&str, u64); 22] = [
    ("amqp:open:list", 0x10),
    ("amqp:begin:list", 0x11),
    ("amqp:attach:list", 0x12),
    ("amqp:flow:list", 0x13),
    ("amqp:transfer:list", 0x14),
    ("amqp:disposition:list", 0x15),
    ("amqp:detach:list", 0x16),
    ("amqp:end:list", 0x17),
    ("amqp:close:list", 0x18),
    ("amqp:error:list", 0x1d),
    ("amqp:received:list", 0x23),
    ("amqp:accepted:list", 0x24),
    ("amqp:rejected:list", 0x25),
    ("amqp:released:list", 0x26),
    ("amqp:modified:list", 0x27),
    ("amqp:source:list", 0x28),
    ("amqp:target:list", 0x29),
    ("amqp:sasl-mechanisms:list", 0x40),
    ("amqp:sasl-init:list", 0x41),
    ("amqp:sasl-challenge:list", 0x42),
    ("amqp:sasl-response:list", 0x43),
    ("amqp:sasl-outcome:list", 0x44),
];

/// Iterates over the elements of a symbol array or a single symbol (the `multiple` rule).
pub(crate) fn symbols(v: &[u8], mut each: impl FnMut(&str)) -> R<()> {
    if let Ok(s) = as_sym(v) {
        each(s);
        return Ok(());
    }
    let (count, mut body) = match v[0] {
        0xe0 => (
            u32::from(*v.get(2).ok_or(DecodeError("array"))?),
            v.get(3..),
        ),
        0xf0 => (be_u32(v, 5)?, v.get(9..)),
        _ => return bad("expected a symbol array"),
    };
    let b = body.take().ok_or(DecodeError("truncated array"))?;
    let (elem, mut rest) = b.split_first().ok_or(DecodeError("truncated array"))?;
    for _ in 0..count {
        let hdr = if *elem == 0xa3 {
            1
        } else if *elem == 0xb3 {
            4
        } else {
            return bad("array elements are not symbols");
        };
        let len = if hdr == 1 {
            *rest.first().ok_or(DecodeError("truncated array"))? as usize
        } else {
            be_u32(rest, 0)? as usize
        };
        let s = rest
            .get(hdr..hdr + len)
            .ok_or(DecodeError("truncated array element"))?;
        each(std::str::from_utf8(s).map_err(|_| DecodeError("symbol is not ASCII"))?);
        rest = &rest[hdr + len..];
    }
    Ok(())
}

/// Visits each (key, value) pair of a map as raw encodings.
pub(crate) fn map_entries<'a>(v: &'a [u8], mut each: impl FnMut(&'a [u8], &'a [u8])) -> R<()> {
    let (count, body) = match v[0] {
        0xc1 => (u32::from(*v.get(2).ok_or(DecodeError("map"))?), v.get(3..)),
        0xd1 => (be_u32(v, 5)?, v.get(9..)),
        _ => return bad("expected a map"),
    };
    let mut rest = body.ok_or(DecodeError("truncated map"))?;
    if count % 2 != 0 {
        return bad("map has an odd number of elements");
    }
    for _ in 0..count / 2 {
        let k = value_len(rest)?;
        let (key, r) = rest.split_at(k);
        let n = value_len(r)?;
        let (val, r) = r.split_at(n);
        each(key, val);
        rest = r;
    }
    Ok(())
}

// ---- encoding --------------------------------------------------------------------------

/// Starts a frame; returns its start offset for [`end_frame`].
pub(crate) fn begin_frame(out: &mut Vec<u8>, kind: u8, channel: u16) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0, 0, 0, 0, 2, kind]);
    out.extend_from_slice(&channel.to_be_bytes());
    at
}

/// Patches the size of the frame started at `at`.
pub(crate) fn end_frame(out: &mut [u8], at: usize) {
    let size = (out.len() - at) as u32;
    out[at..at + 4].copy_from_slice(&size.to_be_bytes());
}

/// Starts a described list (list32 form); returns the patch position for [`end_list`].
pub(crate) fn begin_list(out: &mut Vec<u8>, code: u8) -> usize {
    out.extend_from_slice(&[0x00, 0x53, code, 0xd0]);
    let at = out.len();
    out.extend_from_slice(&[0; 8]);
    at
}

/// Patches size and count of a list started with [`begin_list`].
pub(crate) fn end_list(out: &mut [u8], at: usize, count: u32) {
    let size = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&size.to_be_bytes());
    out[at + 4..at + 8].copy_from_slice(&count.to_be_bytes());
}

pub(crate) fn put_null(out: &mut Vec<u8>) {
    out.push(0x40);
}
pub(crate) fn put_bool(out: &mut Vec<u8>, v: bool) {
    out.push(if v { 0x41 } else { 0x42 });
}
pub(crate) fn put_ubyte(out: &mut Vec<u8>, v: u8) {
    out.extend_from_slice(&[0x50, v]);
}
pub(crate) fn put_ushort(out: &mut Vec<u8>, v: u16) {
    out.push(0x60);
    out.extend_from_slice(&v.to_be_bytes());
}
pub(crate) fn put_uint(out: &mut Vec<u8>, v: u32) {
    match v {
        0 => out.push(0x43),
        1..=255 => out.extend_from_slice(&[0x52, v as u8]),
        _ => {
            out.push(0x70);
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
}
pub(crate) fn put_ulong(out: &mut Vec<u8>, v: u64) {
    match v {
        0 => out.push(0x44),
        1..=255 => out.extend_from_slice(&[0x53, v as u8]),
        _ => {
            out.push(0x80);
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
}
fn put_var(out: &mut Vec<u8>, small: u8, large: u8, b: &[u8]) {
    if b.len() <= 255 {
        out.extend_from_slice(&[small, b.len() as u8]);
    } else {
        out.push(large);
        out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    }
    out.extend_from_slice(b);
}
pub(crate) fn put_bin(out: &mut Vec<u8>, b: &[u8]) {
    put_var(out, 0xa0, 0xb0, b);
}
pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_var(out, 0xa1, 0xb1, s.as_bytes());
}
pub(crate) fn put_sym(out: &mut Vec<u8>, s: &str) {
    put_var(out, 0xa3, 0xb3, s.as_bytes());
}
pub(crate) fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => put_str(out, s),
        None => put_null(out),
    }
}

/// A symbol array (array32 of sym32 elements; every peer accepts the large form).
pub(crate) fn put_sym_array(out: &mut Vec<u8>, items: &[&str]) {
    out.push(0xf0);
    let at = out.len();
    out.extend_from_slice(&[0; 8]);
    out.push(0xb3);
    for s in items {
        out.extend_from_slice(&(s.len() as u32).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    end_list(out, at, items.len() as u32);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_of_every_width_class() {
        assert_eq!(value_len(&[0x40]), Ok(1));
        assert_eq!(value_len(&[0x52, 7]), Ok(2));
        assert_eq!(value_len(&[0x60, 0, 1]), Ok(3));
        assert_eq!(value_len(&[0xa1, 2, b'h', b'i']), Ok(4));
        assert_eq!(
            value_len(&[0xa1, 3, b'h', b'i']),
            Err(DecodeError("value runs past the end of its frame"))
        );
        assert!(value_len(&[0x46]).is_err());
        assert!(value_len(&[0x00, 0x53]).is_err());
        let mut deep = vec![0u8; 200];
        deep.push(0x40);
        assert!(value_len(&deep).is_err());
    }

    #[test]
    fn list_round_trip() {
        let mut out = Vec::new();
        let at = begin_list(&mut out, 0x10);
        put_str(&mut out, "c");
        put_uint(&mut out, 70000);
        put_ushort(&mut out, 9);
        put_bool(&mut out, true);
        end_list(&mut out, at, 4);
        let (d, v) = described(&out).unwrap();
        assert_eq!(descriptor_code(d), Ok(0x10));
        let (mut f, n) = Fields::open(v).unwrap();
        assert_eq!(n, v.len());
        assert_eq!(f.string(), Ok(Some("c")));
        assert_eq!(f.uint(), Ok(Some(70000)));
        assert_eq!(f.ushort(), Ok(Some(9)));
        assert_eq!(f.boolean(), Ok(Some(true)));
        assert_eq!(f.uint(), Ok(None));
        f.finish().unwrap();
    }

    #[test]
    fn symbol_arrays_and_maps() {
        let mut out = Vec::new();
        put_sym_array(&mut out, &["PLAIN", "ANONYMOUS"]);
        let mut seen = Vec::new();
        symbols(&out, |s| seen.push(s.to_string())).unwrap();
        assert_eq!(seen, ["PLAIN", "ANONYMOUS"]);
        let map = [0xc1, 5, 2, 0xa3, 1, b'k', 0x41];
        let mut n = 0;
        map_entries(&map, |k, v| {
            assert_eq!(as_sym(k), Ok("k"));
            assert_eq!(as_bool(v), Ok(true));
            n += 1;
        })
        .unwrap();
        assert_eq!(n, 1);
    }
}
