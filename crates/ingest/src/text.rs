//! Cell-level parsing rules shared by every source.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::Decimal;

/// Spellings of "no value" found in real exports, compared case-insensitively.
const NULLS: [&str; 6] = ["", "null", "(null)", "none", "n/a", "nan"];

/// The cell's text, or `None` when it spells null.
pub fn non_null(cell: &str) -> Option<&str> {
    let trimmed = cell.trim();
    if NULLS.iter().any(|null| trimmed.eq_ignore_ascii_case(null)) {
        None
    } else {
        Some(trimmed)
    }
}

/// Parses a decimal cell; see [`costflow_model::money::parse_decimal`].
pub fn decimal(cell: &str) -> Result<Decimal, String> {
    costflow_model::money::parse_decimal(cell).map_err(|err| err.to_string())
}

/// How the datetimes of one file are written. Decided once per file, from its
/// first datetime value, never per row and never from the machine's locale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateLayout {
    /// RFC 3339 with a zone: `2024-09-01T00:00:00Z`, `2024-09-01T02:00:00+02:00`.
    Rfc3339,
    /// ISO 8601 without a zone, read as UTC: `2024-09-01T00:00:00`.
    IsoLocalT,
    /// ISO 8601 with a space, read as UTC: `2024-09-01 00:00:00`.
    IsoLocalSpace,
    /// A date alone, midnight UTC: `2024-09-01`.
    IsoDate,
    /// US month/day/year, as in the FOCUS specification's examples: `5/1/25`,
    /// `05/01/2025`. A two-digit year is 20YY.
    UsDate,
}

impl DateLayout {
    /// The layouts tried, in order, on a file's first datetime value.
    const ALL: [DateLayout; 5] = [
        DateLayout::Rfc3339,
        DateLayout::IsoLocalT,
        DateLayout::IsoLocalSpace,
        DateLayout::IsoDate,
        DateLayout::UsDate,
    ];

    /// The layout a value is written in, if any.
    pub fn detect(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|layout| layout.parse(value).is_some())
    }

    /// Parses a value written in this layout.
    pub fn parse(self, value: &str) -> Option<DateTime<Utc>> {
        let value = value.trim();
        let naive = match self {
            DateLayout::Rfc3339 => {
                return DateTime::parse_from_rfc3339(value)
                    .ok()
                    .map(|t| t.with_timezone(&Utc))
            }
            DateLayout::IsoLocalT => {
                NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f").ok()?
            }
            DateLayout::IsoLocalSpace => {
                NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S%.f").ok()?
            }
            DateLayout::IsoDate => NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .ok()?
                .and_hms_opt(0, 0, 0)?,
            DateLayout::UsDate => us_date(value)?.and_hms_opt(0, 0, 0)?,
        };
        Some(naive.and_utc())
    }

    /// The layout as an operator would write it.
    pub fn describe(self) -> &'static str {
        match self {
            DateLayout::Rfc3339 => "YYYY-MM-DDTHH:MM:SSZ",
            DateLayout::IsoLocalT => "YYYY-MM-DDTHH:MM:SS",
            DateLayout::IsoLocalSpace => "YYYY-MM-DD HH:MM:SS",
            DateLayout::IsoDate => "YYYY-MM-DD",
            DateLayout::UsDate => "M/D/YY",
        }
    }
}

fn us_date(value: &str) -> Option<NaiveDate> {
    let mut parts = value.split('/');
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    let year_text = parts.next()?;
    if parts.next().is_some() || !(year_text.len() == 2 || year_text.len() == 4) {
        return None;
    }
    let mut year: i32 = year_text.parse().ok()?;
    if year_text.len() == 2 {
        year += 2000;
    }
    NaiveDate::from_ymd_opt(year, month, day)
}

/// Parses FOCUS Tags: a JSON object whose values become strings.
///
/// Keys are trimmed. Two keys that trim to the same text with the same value are
/// one tag; with different values nothing is dropped: the later one keeps its
/// untrimmed key and is listed in [`TAG_KEY_COLLISIONS`] of the returned map's
pub fn tags(cell: &str) -> Result<Tags, String> {
    let value: serde_json::Value =
        serde_json::from_str(cell).map_err(|err| format!("tags are not valid JSON: {err}"))?;
    let serde_json::Value::Object(object) = value else {
        return Err("tags are not a JSON object".to_owned());
    };
    let mut out = Tags::default();
    for (raw_key, value) in object {
        let text = match value {
            serde_json::Value::String(text) => text,
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        };
        let key = raw_key.trim();
        match out.tags.get(key) {
            None => {
                out.tags.insert(key.to_owned(), text);
            }
            Some(existing) if *existing == text => {}
            Some(_) => {
                out.collisions.push(raw_key.clone());
                out.tags.insert(raw_key, text);
            }
        }
    }
    Ok(out)
}

/// Parses Azure Tags: a JSON object, or Azure's brace-less form
/// (`"k": "v","k2": "v2"`) that cost exports write. Both give the same map, with
/// the same trimming and collision rules as [`tags`].
pub fn azure_tags(cell: &str) -> Result<Tags, String> {
    let trimmed = cell.trim();
    if trimmed.starts_with('{') {
        tags(trimmed)
    } else {
        tags(&format!("{{{trimmed}}}"))
    }
}

/// The name a header cell stands for: byte-order mark and blanks removed, and
/// for a localised header that carries the English name in parentheses
/// (`Ressourcengruppe (ResourceGroup)`, `Kosten (lineItem/UnblendedCost)`), that
/// English name.
pub fn header_name(raw: &str) -> String {
    let cleaned = raw.trim_start_matches('\u{feff}').trim();
    if let Some(inner) = cleaned
        .strip_suffix(')')
        .and_then(|rest| rest.rsplit_once('('))
        .filter(|(before, _)| !before.trim().is_empty())
        .map(|(_, inner)| inner.trim())
        .filter(|inner| !inner.is_empty() && !inner.contains(' '))
    {
        return inner.to_owned();
    }
    cleaned.to_owned()
}

/// Decides one date layout for a whole file from every value of its date
/// columns, so no row is read with a layout guessed from another row.
///
/// A value that parses in no layout is left to be rejected with its row. When
/// no single layout reads every other value, the file mixes layouts and
/// [`LayoutVote::decide`] says where.
#[derive(Debug, Default)]
pub struct LayoutVote {
    /// For each candidate layout, the first value it could not read.
    misses: [Option<(u64, String, String)>; 5],
    /// The first value seen and its layout.
    first: Option<(u64, String, String, DateLayout)>,
}

impl LayoutVote {
    /// Counts one value of a date column.
    pub fn observe(&mut self, line: u64, column: &str, value: &str) {
        let Some(layout) = DateLayout::detect(value) else {
            return;
        };
        if self.first.is_none() {
            self.first = Some((line, column.to_owned(), value.to_owned(), layout));
        }
        for (index, candidate) in DateLayout::ALL.iter().enumerate() {
            if self.misses[index].is_none() && candidate.parse(value).is_none() {
                self.misses[index] = Some((line, column.to_owned(), value.to_owned()));
            }
        }
    }

    /// The layout that reads every value seen (`None` when there were none), or
    /// why none does.
    pub fn decide(&self) -> Result<Option<DateLayout>, String> {
        let Some((first_line, first_column, first_value, first_layout)) = &self.first else {
            return Ok(None);
        };
        if let Some(index) = self.misses.iter().position(Option::is_none) {
            return Ok(Some(DateLayout::ALL[index]));
        }
        let index = DateLayout::ALL
            .iter()
            .position(|l| l == first_layout)
            .unwrap_or(0);
        let (line, column, value) = self.misses[index].clone().unwrap_or_default();
        let other = DateLayout::detect(&value).map_or("another layout", DateLayout::describe);
        Err(format!(
            "dates mix layouts: line {first_line} {first_column} `{first_value}` is {}, \
             line {line} {column} `{value}` is {other}",
            first_layout.describe()
        ))
    }
}

/// Extension under which a record lists tag keys that collided once trimmed.
pub const TAG_KEY_COLLISIONS: &str = "x_costflow_TagKeyCollisions";

/// Parsed tags and the untrimmed keys kept because they collided.
#[derive(Debug, Default)]
pub struct Tags {
    /// Tag key to value.
    pub tags: BTreeMap<String, String>,
    /// Keys kept untrimmed because their trimmed form held another value.
    pub collisions: Vec<String>,
}

impl Tags {
    /// Adds one tag from a source that gives tags one at a time (CUR's
    /// `resourceTags/KEY` columns), under the same rules as [`tags`]: the key is
    /// trimmed; a second key that trims to the same text with the same value is
    /// the same tag; with another value it is kept under its untrimmed key (or,
    /// when that is taken too, the key followed by `#2`, `#3`, ...) and listed in
    /// [`Tags::collisions`].
    pub fn insert(&mut self, raw_key: &str, value: String) {
        let key = raw_key.trim();
        match self.tags.get(key) {
            None => {
                self.tags.insert(key.to_owned(), value);
            }
            Some(existing) if *existing == value => {}
            Some(_) => {
                // The same key written twice with two values: number the later
                // one rather than overwrite either.
                let mut kept = raw_key.to_owned();
                let mut n = 2;
                while self.tags.contains_key(&kept) {
                    kept = format!("{raw_key}#{n}");
                    n += 1;
                }
                self.collisions.push(kept.clone());
                self.tags.insert(kept, value);
            }
        }
    }
}

/// True for an ISO 4217-shaped currency code (three upper-case letters).
pub fn is_currency_code(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn headers_lose_bom_and_localised_ones_give_their_english_name() {
        assert_eq!(
            header_name("\u{feff} lineItem/UnblendedCost "),
            "lineItem/UnblendedCost"
        );
        assert_eq!(
            header_name("Kosten (lineItem/UnblendedCost)"),
            "lineItem/UnblendedCost"
        );
        assert_eq!(header_name("Kosten ( BilledCost )"), "BilledCost");
        assert_eq!(header_name("(x)"), "(x)");
        assert_eq!(header_name("Cost"), "Cost");
    }

    #[test]
    fn tags_added_one_by_one_report_collisions() {
        let mut tags = Tags::default();
        tags.insert("user:Team", "a".to_owned());
        tags.insert(" user:Team", "a".to_owned());
        tags.insert("user:Team ", "b".to_owned());
        assert_eq!(tags.tags["user:Team"], "a");
        assert_eq!(tags.tags["user:Team "], "b");
        tags.insert("user:Team", "c".to_owned());
        assert_eq!(tags.tags["user:Team#2"], "c");
        assert_eq!(tags.collisions, ["user:Team ", "user:Team#2"]);
    }

    #[test]
    fn null_spellings_are_null() {
        for cell in ["", " ", "NULL", "null", "(null)", "None", "N/A"] {
            assert_eq!(non_null(cell), None, "{cell:?}");
        }
        assert_eq!(non_null(" 0 "), Some("0"));
    }

    #[test]
    fn each_layout_is_detected_from_one_value() {
        let cases = [
            ("2024-09-01T00:00:00Z", DateLayout::Rfc3339),
            ("2024-09-01T00:00:00", DateLayout::IsoLocalT),
            ("2024-09-01 00:00:00", DateLayout::IsoLocalSpace),
            ("2024-09-01", DateLayout::IsoDate),
            ("9/1/24", DateLayout::UsDate),
        ];
        let expected = Utc.with_ymd_and_hms(2024, 9, 1, 0, 0, 0).unwrap();
        for (text, layout) in cases {
            assert_eq!(DateLayout::detect(text), Some(layout), "{text}");
            assert_eq!(layout.parse(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn impossible_times_are_not_dates() {
        assert_eq!(DateLayout::detect("2023-02-01T30:00:00Z"), None);
        assert_eq!(DateLayout::detect("13/45/24"), None);
        assert_eq!(DateLayout::Rfc3339.parse("2024-09-01 00:00:00"), None);
    }

    #[test]
    fn tags_become_strings_and_trimmed_collisions_lose_nothing() {
        let parsed = tags(r#"{"env": "dev", " n ": 3, "ok": true, "none": null}"#)
            .unwrap()
            .tags;
        assert_eq!(parsed["env"], "dev");
        assert_eq!(parsed["n"], "3");
        assert_eq!(parsed["ok"], "true");
        assert_eq!(parsed["none"], "");
        let same = tags(r#"{"org": "trey", " org": "trey"}"#).unwrap();
        assert_eq!((same.tags.len(), same.collisions.len()), (1, 0));
        let clash = tags(r#"{"a": "1", "a ": "2"}"#).unwrap();
        assert_eq!(clash.tags["a"], "1");
        assert_eq!(clash.tags["a "], "2");
        assert_eq!(clash.collisions, ["a "]);
        assert!(tags("[1]").is_err());
        assert!(tags("{oops").is_err());
    }

    #[test]
    fn azure_braceless_tags_and_json_objects_give_the_same_map() {
        let braceless = azure_tags(r#""env": "prod","org": "trey", " cc ": "1""#).unwrap();
        let object = azure_tags(r#"{"env": "prod", "org": "trey", "cc": "1"}"#).unwrap();
        assert_eq!(braceless.tags, object.tags);
        assert_eq!(braceless.tags["cc"], "1");
        let clash = azure_tags(r#""a": "1","a ": "2""#).unwrap();
        assert_eq!(clash.collisions, ["a "]);
        assert!(azure_tags(r#""a": "#).is_err());
    }

    #[test]
    fn localised_headers_stand_for_their_english_name() {
        assert_eq!(
            header_name("Ressourcengruppe (ResourceGroup)"),
            "ResourceGroup"
        );
        assert_eq!(
            header_name("Dienstinformation 1 (ServiceInfo1)"),
            "ServiceInfo1"
        );
        assert_eq!(header_name("\u{feff}SubscriptionGuid "), "SubscriptionGuid");
        assert_eq!(header_name("Maßeinheit (UnitOfMeasure)"), "UnitOfMeasure");
        assert_eq!(header_name("Cost (in USD)"), "Cost (in USD)");
    }

    #[test]
    fn one_layout_is_chosen_from_the_whole_column() {
        let mut us = LayoutVote::default();
        us.observe(2, "Date", "02/02/2021");
        us.observe(3, "Date", "not a date");
        us.observe(4, "Date", "05/31/2021");
        assert_eq!(us.decide(), Ok(Some(DateLayout::UsDate)));
        assert_eq!(LayoutVote::default().decide(), Ok(None));

        let mut mixed = LayoutVote::default();
        mixed.observe(2, "Date", "2021-02-02");
        mixed.observe(3, "Date", "2021-02-03");
        mixed.observe(9, "Date", "02/04/2021");
        let err = mixed.decide().unwrap_err();
        assert!(
            err.contains("line 2 Date `2021-02-02` is YYYY-MM-DD"),
            "{err}"
        );
        assert!(err.contains("line 9 Date `02/04/2021` is M/D/YY"), "{err}");
    }
}
