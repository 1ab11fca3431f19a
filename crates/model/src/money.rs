//! Exact decimals: parsing source text and fitting values into stored columns.

use rust_decimal::Decimal;

/// Decimal places kept for money in storage (ClickHouse `Decimal(38, 15)`).
pub const MONEY_SCALE: u32 = 15;
/// Decimal places kept for quantities and unit prices (ClickHouse `Decimal(38, 18)`).
pub const QUANTITY_SCALE: u32 = 18;

/// Why a text is not a usable decimal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// Not a base-10 number.
    #[error("not a plain decimal number (digits with an optional sign, one '.', and an optional exponent; no currency symbols or thousands separators)")]
    Syntax,
    /// More digits than 28, the exact range costflow carries.
    #[error("more than 28 significant digits")]
    TooLong,
}

/// Parses a decimal exactly: plain (`-12.50`) or scientific (`1.5E-7`) notation.
/// Trailing zeros are dropped; nothing is rounded.
pub fn parse_decimal(text: &str) -> Result<Decimal, DecimalError> {
    let text = text.trim();
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text).map_err(|_| DecimalError::Syntax)
    } else {
        Decimal::from_str_exact(text).map_err(|err| match err {
            rust_decimal::Error::Underflow | rust_decimal::Error::ExceedsMaximumPossibleValue => {
                DecimalError::TooLong
            }
            _ => DecimalError::Syntax,
        })
    };
    Ok(parsed?.normalize())
}

/// The value as a fixed-point integer with `scale` decimal places, as ClickHouse
/// stores a `Decimal(38, scale)`; `None` when it has more decimal places than that.
pub fn to_fixed(value: Decimal, scale: u32) -> Option<i128> {
    let value = value.normalize();
    if value.scale() > scale {
        return None;
    }
    let factor = 10i128.checked_pow(scale - value.scale())?;
    value.mantissa().checked_mul(factor)
}

/// Writes a fixed-point integer with `scale` decimal places as a plain decimal
/// string, without trailing zeros: `1500000000000000, 15` is `"1.5"`.
pub fn fixed_to_string(value: i128, scale: u32) -> String {
    let digits = value.unsigned_abs().to_string();
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    let frac = frac.trim_end_matches('0');
    let sign = if value < 0 { "-" } else { "" };
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_scientific_notation_exactly() {
        assert_eq!(
            parse_decimal("0.00000080000").unwrap().to_string(),
            "0.0000008"
        );
        assert_eq!(parse_decimal("-12.50").unwrap().to_string(), "-12.5");
        assert_eq!(parse_decimal("1.5E-7").unwrap().to_string(), "0.00000015");
        assert_eq!(parse_decimal("2e+3").unwrap().to_string(), "2000");
        assert_eq!(parse_decimal("abc"), Err(DecimalError::Syntax));
        assert_eq!(parse_decimal("1.2.3"), Err(DecimalError::Syntax));
    }

    #[test]
    fn fixed_point_round_trips_without_rounding() {
        let value = parse_decimal("-0.000001234567890").unwrap();
        let fixed = to_fixed(value, MONEY_SCALE).unwrap();
        assert_eq!(fixed, -1_234_567_890);
        assert_eq!(fixed_to_string(fixed, MONEY_SCALE), "-0.00000123456789");
        assert_eq!(fixed_to_string(1_500_000_000_000_000, 15), "1.5");
        assert_eq!(fixed_to_string(0, 15), "0");
        assert_eq!(fixed_to_string(-7, 2), "-0.07");
    }

    #[test]
    fn refuses_more_places_than_the_column_keeps() {
        let value = parse_decimal("0.1234567890123456").unwrap();
        assert_eq!(to_fixed(value, MONEY_SCALE), None);
        assert!(to_fixed(value, QUANTITY_SCALE).is_some());
    }
}
