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
    pub fn write_compact(&self, out: &mut [u8; 21]) -> usize {
        let n = self.root_len as usize;
        // The whole 6-byte root array, a fixed-size copy; what follows overwrites its tail.
        out[..6].copy_from_slice(&self.root);
        let two = |o: &mut [u8], v: u8| {
            o[0] = b'0' + v / 10;
            o[1] = b'0' + v % 10;
        };
        two(&mut out[n..], self.yy);
        two(&mut out[n + 2..], self.mm);
        two(&mut out[n + 4..], self.dd);
        out[n + 6] = self.put_call.letter() as u8;
        // Eight strike digits as four pairs: four divisions instead of eight (this runs
        // once per tick encoded).
        let mut s = self.strike_milli;
        for i in (0..4).rev() {
            let pair = (s % 100) as u8;
            two(&mut out[n + 7 + 2 * i..], pair);
            s /= 100;
        }
        n + 15
    }
}

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
}
