//! The date range cut into billing periods (calendar months) and the days in each.
//!
//! Every period and day is half-open, `[start, end)`, and written as an ISO 8601 UTC
//! timestamp at midnight. A range that starts or ends mid-month still uses the whole
//! month as its billing period; only the days inside the range carry charges.

use chrono::{Datelike, Days, Months, NaiveDate};

use crate::GenerateError;

/// Ten years: more is not a demo, and each day is kept in memory as text.
const MAX_DAYS: u32 = 3_660;

/// One billing period and the days of the range that fall in it.
pub(crate) struct BillingPeriod {
    /// Position in the range, 0 for the earliest period.
    pub(crate) index: usize,
    /// First day of the month.
    pub(crate) start: NaiveDate,
    /// First day of the next month: the period is `[start, end)`.
    pub(crate) end: NaiveDate,
    pub(crate) start_text: String,
    pub(crate) end_text: String,
    pub(crate) days: Vec<Day>,
}

/// One day that carries charges.
pub(crate) struct Day {
    pub(crate) date: NaiveDate,
    /// Days since the first day of the range.
    pub(crate) index: u32,
    /// 0 for Monday to 6 for Sunday.
    pub(crate) weekday: usize,
    /// Length of the day's month, to spread monthly prices over days.
    pub(crate) days_in_month: u32,
    pub(crate) start_text: String,
    pub(crate) end_text: String,
}

impl BillingPeriod {
    /// A key unique to the calendar month, so per-month draws do not depend on where
    /// the range starts.
    pub(crate) fn month_key(&self) -> u64 {
        let year = u64::try_from(self.start.year()).unwrap_or(0);
        year * 12 + u64::from(self.start.month0())
    }

    /// Start of the charge period of a once-a-period charge: the first day in range.
    pub(crate) fn covered_start(&self) -> &str {
        self.days
            .first()
            .map_or(&self.start_text, |day| &day.start_text)
    }

    /// End of the charge period of a once-a-period charge: the day after the last day
    /// in range.
    pub(crate) fn covered_end(&self) -> &str {
        self.days.last().map_or(&self.end_text, |day| &day.end_text)
    }
}

/// The billing periods covering `[end - days, end)`, earliest first.
pub(crate) fn billing_periods(
    end: NaiveDate,
    days: u32,
) -> Result<Vec<BillingPeriod>, GenerateError> {
    if days == 0 {
        return Err(GenerateError::InvalidOptions("days must be at least 1"));
    }
    if days > MAX_DAYS {
        return Err(GenerateError::InvalidOptions("days must be at most 3660"));
    }
    let first =
        end.checked_sub_days(Days::new(u64::from(days)))
            .ok_or(GenerateError::InvalidOptions(
                "the range starts before year -262143",
            ))?;

    let mut periods: Vec<BillingPeriod> = Vec::new();
    for index in 0..days {
        let date = first + Days::new(u64::from(index));
        let day = day(date, index)?;
        match periods.last_mut() {
            Some(period) if period.start == month_start(date) => period.days.push(day),
            _ => periods.push(new_period(periods.len(), date, day)?),
        }
    }
    Ok(periods)
}

fn new_period(index: usize, date: NaiveDate, day: Day) -> Result<BillingPeriod, GenerateError> {
    let start = month_start(date);
    let end = next_month(start)?;
    Ok(BillingPeriod {
        index,
        start,
        end,
        start_text: timestamp(start),
        end_text: timestamp(end),
        days: vec![day],
    })
}

fn day(date: NaiveDate, index: u32) -> Result<Day, GenerateError> {
    let next = date.succ_opt().ok_or(GenerateError::InvalidOptions(
        "the range ends after year 262142",
    ))?;
    let month = month_start(date);
    let days_in_month = next_month(month)?.signed_duration_since(month).num_days();
    Ok(Day {
        date,
        index,
        weekday: date.weekday().num_days_from_monday() as usize,
        days_in_month: u32::try_from(days_in_month).unwrap_or(30),
        start_text: timestamp(date),
        end_text: timestamp(next),
    })
}

fn month_start(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

fn next_month(month: NaiveDate) -> Result<NaiveDate, GenerateError> {
    month
        .checked_add_months(Months::new(1))
        .ok_or(GenerateError::InvalidOptions(
            "the range ends after year 262142",
        ))
}

/// Midnight UTC of `date` as FOCUS writes date-times: `2026-09-01T00:00:00Z`.
pub(crate) fn timestamp(date: NaiveDate) -> String {
    format!("{}T00:00:00Z", date.format("%Y-%m-%d"))
}
