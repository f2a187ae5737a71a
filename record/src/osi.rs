//! OSI option symbols: root, expiry, put/call, strike.

use std::fmt;

/// Put or call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PutCall {
    /// A call option (`C`).
    Call,
    /// A put option (`P`).
    Put,
}

impl PutCall {
    /// `'C'` or `'P'`.
    pub fn letter(self) -> char {
        match self {
            Self::Call => 'C',
            Self::Put => 'P',
        }
    }
}

/// One option series named the OSI way, held in 16 bytes.
///
/// The text form is the compact OSI symbol without padding, as used in tickwire addresses:
/// root (1–6 of `A-Z0-9`), expiry `YYMMDD`, `C` or `P`, strike × 1000 in 8 digits:
/// `SPY261218C00450000` is the SPY call expiring 2026-12-18 at $450.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OsiSymbol {
    root: [u8; 6],
    root_len: u8,
    /// Years since 2000 (OSI carries two digits).
    yy: u8,
    mm: u8,
    dd: u8,
    put_call: PutCall,
    /// Strike in thousandths of a dollar; OSI's 8 digits reach $99,999.999.
    strike_milli: u32,
}

/// Why a text is not an OSI symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseOsiError {
    /// The root is empty, longer than 6, or not `A-Z0-9`.
    BadRoot,
    /// The expiry is not a valid `YYMMDD` date.
    BadExpiry,
    /// The put/call letter is not `C` or `P`.
    BadPutCall,
    /// The strike is not 8 digits.
    BadStrike,
}

impl fmt::Display for ParseOsiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadRoot => "option root must be 1 to 6 characters of A-Z or 0-9",
            Self::BadExpiry => "expiry must be a valid YYMMDD date",
            Self::BadPutCall => "put/call must be C or P",
            Self::BadStrike => "strike must be 8 digits (dollars x 1000)",
        })
    }
}

impl std::error::Error for ParseOsiError {}

impl OsiSymbol {
    /// Builds a symbol from parts. `root` is 1–6 of `A-Z0-9`; `yy` is years since 2000.
    pub fn new(
        root: &str,
        yy: u8,
        mm: u8,
        dd: u8,
        put_call: PutCall,
        strike_milli: u32,
    ) -> Result<Self, ParseOsiError> {
        let rb = root.as_bytes();
        if rb.is_empty()
            || rb.len() > 6
            || !rb
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(ParseOsiError::BadRoot);
        }
        if yy > 99 || !(1..=12).contains(&mm) || !(1..=31).contains(&dd) {
            return Err(ParseOsiError::BadExpiry);
        }
        if strike_milli > 99_999_999 {
            return Err(ParseOsiError::BadStrike);
        }
        let mut r = [b' '; 6];
        r[..rb.len()].copy_from_slice(rb);
        Ok(Self {
            root: r,
            root_len: rb.len() as u8,
            yy,
            mm,
            dd,
            put_call,
            strike_milli,
        })
    }

    /// Parses the compact form (`SPY261218C00450000`) or the padded 21-character OSI form
    /// (`SPY   261218C00450000`).
    pub fn parse(s: &str) -> Result<Self, ParseOsiError> {
        let b = s.as_bytes();
        if b.len() < 16 || b.len() > 21 || !s.is_ascii() {
            return Err(ParseOsiError::BadRoot);
        }
        let (root, rest) = s.split_at(b.len() - 15);
        let root = root.trim_end_matches(' ');
        let digits = |t: &str| t.bytes().all(|c| c.is_ascii_digit());
        let (date, pc, strike) = (&rest[..6], rest.as_bytes()[6], &rest[7..]);
        if !digits(date) {
            return Err(ParseOsiError::BadExpiry);
        }
        let put_call = match pc {
            b'C' => PutCall::Call,
            b'P' => PutCall::Put,
            _ => return Err(ParseOsiError::BadPutCall),
        };
        if !digits(strike) {
            return Err(ParseOsiError::BadStrike);
        }
        let num = |t: &str| t.parse::<u32>().map_err(|_| ParseOsiError::BadExpiry);
        Self::new(
            root,
            num(&date[0..2])? as u8,
            num(&date[2..4])? as u8,
            num(&date[4..6])? as u8,
            put_call,
            strike.parse().map_err(|_| ParseOsiError::BadStrike)?,
        )
    }

    /// The option root (usually the underlying's symbol), without padding.
    pub fn root(&self) -> &str {
        std::str::from_utf8(&self.root[..self.root_len as usize]).unwrap_or("")
    }

    /// Expiry as (year, month, day), the year in full (2000 + YY).
    pub fn expiry(&self) -> (u16, u8, u8) {
        (2000 + self.yy as u16, self.mm, self.dd)
    }

    /// Put or call.
    pub fn put_call(&self) -> PutCall {
        self.put_call
    }

    /// Strike in thousandths of a dollar.
    pub fn strike_milli(&self) -> u32 {
        self.strike_milli
    }

    /// Writes the compact form into `out` (at most 21 bytes: a 6-character root + 15) and
    /// returns its length.
    ///
    /// This runs once per tick encoded (live and in replay). The 15 bytes after the root
    /// are built in a local array at fixed positions, two digits at a time from a table,
    /// then copied in one piece: no bounds check per digit and no division per digit.
    pub fn write_compact(&self, out: &mut [u8; 21]) -> usize {
        let n = usize::from(self.root_len).min(6);
        // The whole 6-byte root array, a fixed-size copy; the tail overwrites what follows.
        out[..6].copy_from_slice(&self.root);
        let mut t = [0u8; 15];
        let put = |t: &mut [u8; 15], at: usize, v: u32| {
            let i = 2 * (v % 100) as usize;
            t[at] = DIGIT_PAIRS[i];
            t[at + 1] = DIGIT_PAIRS[i + 1];
        };
        put(&mut t, 0, u32::from(self.yy));
        put(&mut t, 2, u32::from(self.mm));
        put(&mut t, 4, u32::from(self.dd));
        t[6] = self.put_call.letter() as u8;
        let s = self.strike_milli;
        put(&mut t, 7, s / 1_000_000);
        put(&mut t, 9, s / 10_000);
        put(&mut t, 11, s / 100);
        put(&mut t, 13, s);
        out[n..n + 15].copy_from_slice(&t);
        n + 15
    }
}

/// `00`, `01`, … `99`: two ASCII digits for each value below 100.
const DIGIT_PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut v = 0;
    while v < 100 {
        t[2 * v] = b'0' + (v / 10) as u8;
        t[2 * v + 1] = b'0' + (v % 10) as u8;
        v += 1;
    }
    t
};

impl fmt::Display for OsiSymbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 21];
        let n = self.write_compact(&mut buf);
        f.write_str(std::str::from_utf8(&buf[..n]).unwrap_or("?"))
    }
}

impl fmt::Debug for OsiSymbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OsiSymbol({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_both_forms() {
        let s = OsiSymbol::parse("SPY261218C00450000").unwrap();
        assert_eq!(s.root(), "SPY");
        assert_eq!(s.expiry(), (2026, 12, 18));
        assert_eq!(s.put_call(), PutCall::Call);
        assert_eq!(s.strike_milli(), 450_000);
        assert_eq!(s.to_string(), "SPY261218C00450000");
        assert_eq!(OsiSymbol::parse("SPY   261218C00450000").unwrap(), s);
        assert_eq!(std::mem::size_of::<OsiSymbol>(), 16);
    }

    #[test]
    fn prints_six_character_roots() {
        let o = OsiSymbol::parse("GOOGL 261218P01234500").unwrap();
        assert_eq!(o.to_string(), "GOOGL261218P01234500");
        let o = OsiSymbol::new("ABCDEF", 26, 1, 2, PutCall::Call, 99_999_999).unwrap();
        assert_eq!(o.to_string(), "ABCDEF260102C99999999");
    }

    #[test]
    fn rejects_bad_text() {
        assert_eq!(
            OsiSymbol::parse("spy261218C00450000"),
            Err(ParseOsiError::BadRoot)
        );
        assert_eq!(
            OsiSymbol::parse("SPY261318C00450000"),
            Err(ParseOsiError::BadExpiry)
        );
        assert_eq!(
            OsiSymbol::parse("SPY261218X00450000"),
            Err(ParseOsiError::BadPutCall)
        );
        assert_eq!(
            OsiSymbol::parse("SPY261218C0045000x"),
            Err(ParseOsiError::BadStrike)
        );
        assert!(OsiSymbol::parse("").is_err());
        assert!(OsiSymbol::parse("TOOLONGR261218C00450000").is_err());
    }

    #[test]
    fn compact_form_matches_plain_formatting_and_parses_back() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for i in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let root = &"QWERTY"[..1 + (i % 6) as usize];
            let (yy, mm, dd) = (
                (x % 100) as u8,
                1 + (x >> 8) as u8 % 12,
                1 + (x >> 16) as u8 % 31,
            );
            let strike = match i % 4 {
                0 => 0,
                1 => 99_999_999,
                _ => (x >> 24) as u32 % 100_000_000,
            };
            let pc = if i % 2 == 0 {
                PutCall::Call
            } else {
                PutCall::Put
            };
            let o = OsiSymbol::new(root, yy, mm, dd, pc, strike).unwrap();
            let want = format!("{root}{yy:02}{mm:02}{dd:02}{}{strike:08}", pc.letter());
            let mut out = [0u8; 21];
            let n = o.write_compact(&mut out);
            assert_eq!(std::str::from_utf8(&out[..n]).unwrap(), want);
            assert_eq!(OsiSymbol::parse(&want), Ok(o));
        }
    }
}
