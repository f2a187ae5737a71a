//! Wire prices and their denominator codes -> our `i32` $0.0001 fixed point.
//!
//! OPRA sends an unsigned integer price with a denominator code: `'A'` = 1 decimal place
//! (÷10) through `'H'` = 8 places (÷10^8). Our unit is $0.0001 (code `'D'`), so codes
//! `'A'..='D'` scale up and must not overflow, and codes `'E'..='H'` scale down and must
//! divide exactly. Anything else is [`WireError::ImpossiblePrice`].

use super::WireError;

/// The denominator code for four decimal places: our own unit, used by the encoder.
pub const DENOM_OURS: u8 = b'D';
/// The denominator code of short-form prices (cents).
pub const DENOM_CENTS: u8 = b'B';

const POW10: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// Converts a wire price with a denominator code to $0.0001 units.
#[inline]
pub fn to_units(raw: u64, denom: u8) -> Result<i32, WireError> {
    let units = match denom {
        DENOM_OURS => raw,
        b'A'..=b'C' => {
            let places = (denom - b'A' + 1) as usize;
            raw.checked_mul(POW10[4 - places])
                .ok_or(WireError::ImpossiblePrice)?
        }
        b'E'..=b'H' => {
            let div = POW10[(denom - b'A' + 1) as usize - 4];
            if !raw.is_multiple_of(div) {
                return Err(WireError::ImpossiblePrice);
            }
            raw / div
        }
        _ => return Err(WireError::ImpossiblePrice),
    };
    i32::try_from(units).map_err(|_| WireError::ImpossiblePrice)
}

/// Converts a short-form price (cents) to $0.0001 units. Always representable.
#[inline]
pub fn cents_to_units(raw: u16) -> i32 {
    raw as i32 * 100
}

/// Converts $0.0001 units to a short-form price in cents, if exact and in range.
#[inline]
pub fn units_to_cents(units: i32) -> Option<u16> {
    if units < 0 || units % 100 != 0 {
        return None;
    }
    u16::try_from(units / 100).ok()
}

/// Converts $0.0001 units to a long-form wire price with code [`DENOM_OURS`], if not
/// negative.
#[inline]
pub fn units_to_raw(units: i32) -> Option<u64> {
    u64::try_from(units).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_scales_exactly() {
        assert_eq!(to_units(45, b'A'), Ok(45_000));
        assert_eq!(to_units(4_512, b'B'), Ok(451_200));
        assert_eq!(to_units(4_512, b'C'), Ok(45_120));
        assert_eq!(to_units(4_512, b'D'), Ok(4_512));
        assert_eq!(to_units(45_120, b'E'), Ok(4_512));
        assert_eq!(to_units(451_200_000, b'H'), Ok(45_120));
        assert_eq!(to_units(1, b'E'), Err(WireError::ImpossiblePrice));
        assert_eq!(to_units(1, b'I'), Err(WireError::ImpossiblePrice));
        assert_eq!(to_units(1, b' '), Err(WireError::ImpossiblePrice));
        assert_eq!(to_units(u64::MAX, b'A'), Err(WireError::ImpossiblePrice));
        assert_eq!(to_units(1 << 31, b'D'), Err(WireError::ImpossiblePrice));
        assert_eq!(to_units(i32::MAX as u64, b'D'), Ok(i32::MAX));
    }

    #[test]
    fn cents_round_trip() {
        assert_eq!(units_to_cents(cents_to_units(65_535)), Some(65_535));
        assert_eq!(units_to_cents(101), None);
        assert_eq!(units_to_cents(-100), None);
        assert_eq!(units_to_cents(6_553_600), None);
    }
}
