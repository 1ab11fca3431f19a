//! Exact decimals: parsing source text, splitting values into the stored columns
//! and putting sums of those columns back together.
//!
//! ClickHouse 18.16 has no 256-bit decimals, and a single `Decimal(38, 28)` would
//! leave only 10 integer digits, too few for sums or for large single lines in
//! currencies such as JPY or IDR. So every amount is stored as two exact parts:
//! the value truncated toward zero at the column's scale (money: 15 places in
//! `Decimal(38, 15)`; quantities: 18 places in `Decimal(38, 18)`) and the rest,
//! `value - truncated`, in a `Decimal(38, 28)` column. The rest is smaller than one
//! unit of the last stored place, so both parts sum in ClickHouse without
//! overflow, and `sum(part) + sum(rest)`, combined by [`Amount::from_parts`], is the
//! exact total to the 28th place.

use std::fmt;
use std::ops::{Add, AddAssign};

use bigdecimal::num_bigint::BigInt;
use bigdecimal::BigDecimal;
use rust_decimal::Decimal;

/// Decimal places of the main money columns (ClickHouse `Decimal(38, 15)`).
pub const MONEY_SCALE: u32 = 15;
/// Decimal places of the main quantity columns (ClickHouse `Decimal(38, 18)`).
pub const QUANTITY_SCALE: u32 = 18;
/// Decimal places of the rest columns (ClickHouse `Decimal(38, 28)`): every place
/// a `rust_decimal::Decimal` can hold.
pub const REST_SCALE: u32 = 28;
/// Digits a ClickHouse `Decimal(38, S)` holds, integer and fraction together.
pub const STORED_DIGITS: u32 = 38;

/// Integer digits a value may have to be stored with `scale` places in its main
/// column: 23 for money, 20 for quantities.
pub const fn integer_digits(scale: u32) -> u32 {
    STORED_DIGITS - scale
}
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

/// A value as stored: `main` is the value truncated toward zero at the main
/// column's scale, as that `Decimal(38, scale)` column's raw integer; `rest` is
/// what truncation left, as the raw integer of a `Decimal(38, 28)` column.
/// `rest` has the value's sign (or is zero) and `|rest| < 10^(28 - scale)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// Raw integer of the main column, `scale` decimal places.
    pub main: i128,
    /// Raw integer of the rest column, [`REST_SCALE`] decimal places.
    pub rest: i128,
}

/// Splits a value into its main column (`scale` places, at most 28) and its rest
/// column. `None` when the value has more than [`integer_digits`]`(scale)` integer
/// digits; any number of decimal places a `Decimal` holds fits.
pub fn split(value: Decimal, scale: u32) -> Option<Split> {
    assert!(scale <= REST_SCALE, "main scale {scale} above {REST_SCALE}");
    let (mantissa, places) = (value.mantissa(), value.scale());
    let (main, rest) = if places <= scale {
        let main = mantissa.checked_mul(10i128.checked_pow(scale - places)?)?;
        (main, 0)
    } else {
        // Integer division truncates toward zero; the remainder keeps the sign.
        let divisor = 10i128.pow(places - scale);
        let rest = (mantissa % divisor) * 10i128.pow(REST_SCALE - places);
        (mantissa / divisor, rest)
    };
    (main.unsigned_abs() < 10u128.pow(STORED_DIGITS)).then_some(Split { main, rest })
}

/// An exact amount of any size and number of places: a total put back together
/// from its stored parts. Compares by value; displays as a plain decimal without
/// trailing zeros (`"1.5"`, `"-0.07"`, `"0"`), never in exponent notation.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(BigDecimal);

impl Amount {
    /// `main` at `scale` places plus `rest` at [`REST_SCALE`] places, exactly: what
    /// `sum(x)` and `sum(x_rest)` of a pair of stored columns add up to. The parts
    /// may have opposite signs.
    pub fn from_parts(main: i128, scale: u32, rest: i128) -> Self {
        let main = BigDecimal::new(BigInt::from(main), i64::from(scale));
        let rest = BigDecimal::new(BigInt::from(rest), i64::from(REST_SCALE));
        Self((main + rest).normalized())
    }

    /// The amount as a `Decimal` when it fits one exactly (at most 28 significant
    /// digits, up to 28 places); `None` rather than a rounded value.
    pub fn to_decimal(&self) -> Option<Decimal> {
        let (digits, scale) = self.0.as_bigint_and_exponent();
        let mantissa = i128::try_from(digits).ok()?;
        if (0..=i64::from(REST_SCALE)).contains(&scale) {
            Decimal::try_from_i128_with_scale(mantissa, scale as u32).ok()
        } else if scale < 0 {
            let factor = 10i128.checked_pow(u32::try_from(-scale).ok()?)?;
            Decimal::try_from_i128_with_scale(mantissa.checked_mul(factor)?, 0).ok()
        } else {
            None
        }
    }
}

impl From<Decimal> for Amount {
    fn from(value: Decimal) -> Self {
        let value = BigDecimal::new(BigInt::from(value.mantissa()), i64::from(value.scale()));
        Self(value.normalized())
    }
}

impl Add for Amount {
    type Output = Amount;

    fn add(self, other: Amount) -> Amount {
        Amount((self.0 + other.0).normalized())
    }
}

impl AddAssign for Amount {
    fn add_assign(&mut self, other: Amount) {
        self.0 = (&self.0 + other.0).normalized();
    }
}

impl std::iter::Sum for Amount {
    fn sum<I: Iterator<Item = Amount>>(iter: I) -> Amount {
        iter.fold(Amount::default(), Add::add)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Normalised: no trailing zeros; zero has scale 0. Padding is honoured so
        // reports can right-align amounts.
        f.pad(&self.0.normalized().to_plain_string())
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

    fn dec(text: &str) -> Decimal {
        parse_decimal(text).unwrap()
    }

    /// Raw integer from its digits, for values beyond `i128` literals' comfort.
    fn raw(digits: &str) -> i128 {
        digits.parse().unwrap()
    }

    /// Splits at `scale`, checks the parts add back to the value and returns them.
    fn split_back(text: &str, scale: u32) -> Split {
        let value = dec(text);
        let parts = split(value, scale).unwrap();
        assert!(parts.rest.unsigned_abs() < 10u128.pow(REST_SCALE - scale));
        assert!(parts.rest == 0 || (parts.rest < 0) == value.is_sign_negative());
        let back = Amount::from_parts(parts.main, scale, parts.rest);
        assert_eq!(back.to_decimal(), Some(value), "{text}");
        assert_eq!(back.to_string(), value.to_string(), "{text}");
        parts
    }

    #[test]
    fn split_truncates_toward_zero_and_keeps_the_rest() {
        // Azure's 28-place cost (line 15 of the EA AmortizedCost sample).
        let parts = split_back("0.00000001911073923110962", MONEY_SCALE);
        assert_eq!(parts.main, 19_110_739);
        assert_eq!(parts.rest, 2_311_096_200_000);
        let parts = split_back("-0.00000001911073923110962", MONEY_SCALE);
        assert_eq!((parts.main, parts.rest), (-19_110_739, -2_311_096_200_000));
        // Every one of the 28 places.
        let parts = split_back("0.1234567890123456789012345678", MONEY_SCALE);
        assert_eq!(parts.main, 123_456_789_012_345);
        assert_eq!(parts.rest, 6_789_012_345_678);
        let parts = split_back("-0.0000000000000000000000000001", MONEY_SCALE);
        assert_eq!((parts.main, parts.rest), (0, -1));
        // Quantities split the same way at 18 places.
        let parts = split_back("0.1234567890123456789012345678", QUANTITY_SCALE);
        assert_eq!(parts.main, 123_456_789_012_345_678);
        assert_eq!(parts.rest, 9_012_345_678);
    }

    #[test]
    fn split_leaves_no_rest_when_the_main_column_holds_everything() {
        for text in ["0", "-12.5", "0.000000000000001", "1234567.123456789012345"] {
            let parts = split_back(text, MONEY_SCALE);
            assert_eq!(parts.rest, 0, "{text}");
        }
        assert_eq!(
            split(dec("-12.5"), MONEY_SCALE).unwrap().main,
            -12_500_000_000_000_000
        );
    }

    #[test]
    fn split_takes_23_integer_digits_and_refuses_24() {
        let largest = "99999999999999999999999.99999";
        let parts = split_back(largest, MONEY_SCALE);
        assert_eq!(parts.main, raw("99999999999999999999999999990000000000"));
        assert_eq!(parts.rest, 0);
        split_back("-12345678901234567890123.12345", MONEY_SCALE);
        assert_eq!(split(dec("100000000000000000000000"), MONEY_SCALE), None);
        assert_eq!(split(dec("-100000000000000000000000.5"), MONEY_SCALE), None);
        // The largest Decimal has 29 integer digits.
        assert_eq!(split(Decimal::MAX, MONEY_SCALE), None);
        assert_eq!(split(Decimal::MIN, MONEY_SCALE), None);
        // Quantities keep 20 integer digits.
        split_back("99999999999999999999.5", QUANTITY_SCALE);
        assert_eq!(split(dec("100000000000000000000"), QUANTITY_SCALE), None);
    }

    #[test]
    fn parts_combine_exactly_whatever_their_signs() {
        let cases: [(i128, i128, &str); 10] = [
            (0, 0, "0"),
            (1_500_000_000_000_000, 0, "1.5"),
            (-7, 0, "-0.000000000000007"),
            (0, 1, "0.0000000000000000000000000001"),
            (0, -1, "-0.0000000000000000000000000001"),
            // Main positive, rest negative: borrow from the 15th place.
            (1, -1, "0.0000000000000009999999999999"),
            (1_000_000_000_000_000, -1, "0.9999999999999999999999999999"),
            // Main negative, rest positive.
            (-1_000_000_000_000_000, 1, "-0.9999999999999999999999999999"),
            // The rest sums past one unit of the 15th place: carry into it.
            (2, 25_000_000_000_000, "0.0000000000000045"),
            (-2, -25_000_000_000_000, "-0.0000000000000045"),
        ];
        for (main, rest, expected) in cases {
            let amount = Amount::from_parts(main, MONEY_SCALE, rest);
            assert_eq!(amount.to_string(), expected, "{main} {rest}");
            assert_eq!(amount.to_decimal(), Some(dec(expected)), "{main} {rest}");
        }
    }

    #[test]
    fn totals_beyond_decimal_and_i128_at_28_places_stay_exact() {
        // A 23-integer-digit total with a 13-digit tail: 51 digits, more than a
        // Decimal holds and more than an i128 holds at 28 places.
        let main = raw("-99999999999999999999999999999999999999");
        let total = Amount::from_parts(main, MONEY_SCALE, 1);
        assert_eq!(
            total.to_string(),
            "-99999999999999999999999.9999999999999989999999999999"
        );
        assert_eq!(total.to_decimal(), None);
        let total = Amount::from_parts(main, MONEY_SCALE, -9_999_999_999_999);
        assert_eq!(
            total.to_string(),
            "-99999999999999999999999.9999999999999999999999999999"
        );
        let total = Amount::from_parts(raw("12345678901234567890123000000000000000"), 15, -5);
        assert_eq!(
            total.to_string(),
            "12345678901234567890122.9999999999999999999999999995"
        );
        // Sums of stored pairs equal the sum of the values.
        let values = [
            "0.0001188669167459011366",
            "0.000000007292255759239199",
            "-0.4838709677419368",
            "123456789012.5",
            "-0.161000000000000136",
        ];
        let (mut mains, mut rests, mut expected) = (0i128, 0i128, Amount::default());
        for text in values {
            let parts = split(dec(text), MONEY_SCALE).unwrap();
            mains += parts.main;
            rests += parts.rest;
            expected += Amount::from(dec(text));
        }
        let total = Amount::from_parts(mains, MONEY_SCALE, rests);
        assert_eq!(total, expected);
        // 36 significant digits: summing these as Decimal would round silently.
        assert_eq!(total.to_string(), "123456789011.855247906467064724375799");
        assert_eq!(total.to_decimal(), None);
    }

    #[test]
    fn amounts_add_and_order_by_value() {
        let a = Amount::from(dec("0.0000000000000009999999999999"));
        let b = Amount::from_parts(1, MONEY_SCALE, 0);
        let c = Amount::from_parts(0, MONEY_SCALE, -5);
        assert!(c < a && a < b);
        assert_eq!(
            a.clone() + b.clone(),
            Amount::from(dec("0.0000000000000019999999999999"))
        );
        let total: Amount = [a, b, c].into_iter().sum();
        assert_eq!(total.to_string(), "0.0000000000000019999999999994");
        assert_eq!(Amount::from(dec("1.50")), Amount::from(dec("1.5")));
        assert_eq!(format!("{:>6}", Amount::from(dec("1.50"))), "   1.5");
        assert_eq!(Amount::from(dec("1e3")).to_string(), "1000");
        assert_eq!(Amount::default().to_string(), "0");
    }
}
