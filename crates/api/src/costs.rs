//! `GET /v1/costs`.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;
use chrono::NaiveDate;
use costflow_store::{CostQuery, CostRow, Dimension, Granularity, Store};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::ApiError;

/// Longest range one request may ask for, in days.
const MAX_RANGE_DAYS: i64 = 3 * 366;

const PARAMETERS: [&str; 4] = ["from", "to", "group_by", "granularity"];

#[derive(Serialize)]
pub(crate) struct CostsResponse {
    from: NaiveDate,
    to: NaiveDate,
    granularity: &'static str,
    group_by: Vec<&'static str>,
    rows: Vec<Map<String, Value>>,
}

pub(crate) async fn costs(
    State(store): State<Store>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<CostsResponse>, ApiError> {
    let query = parse(&params)?;
    let rows = store.costs(&query).await?;
    Ok(Json(CostsResponse {
        from: query.from,
        to: query.to,
        granularity: granularity_name(query.granularity),
        group_by: query.group_by.iter().map(|d| d.name()).collect(),
        rows: rows.iter().map(|row| to_json(row, &query)).collect(),
    }))
}

fn parse(params: &HashMap<String, String>) -> Result<CostQuery, ApiError> {
    if let Some(unknown) = params.keys().find(|k| !PARAMETERS.contains(&k.as_str())) {
        let known = PARAMETERS.join(", ");
        return Err(ApiError::BadParameter {
            parameter: "query",
            message: format!("unknown parameter `{unknown}`; known: {known}"),
        });
    }
    let from = date(params, "from")?;
    let to = date(params, "to")?;
    if to <= from {
        return Err(ApiError::bad(
            "to",
            "must be after `from` (the range is [from, to))",
        ));
    }
    if (to - from).num_days() > MAX_RANGE_DAYS {
        let message = format!("the range may span at most {MAX_RANGE_DAYS} days");
        return Err(ApiError::bad("to", message));
    }

    let granularity = match params.get("granularity").map(String::as_str) {
        None | Some("day") => Granularity::Day,
        Some("month") => Granularity::Month,
        Some(other) => {
            let message = format!("`{other}` is not one of: day, month");
            return Err(ApiError::bad("granularity", message));
        }
    };

    let mut group_by = Vec::new();
    for name in params
        .get("group_by")
        .into_iter()
        .flat_map(|v| v.split(','))
    {
        if name.trim().is_empty() {
            continue;
        }
        let dimension = Dimension::parse(name).ok_or_else(|| {
            let known: Vec<&str> = Dimension::ALL.iter().map(|d| d.name()).collect();
            let message = format!("`{name}` is not one of: {}", known.join(", "));
            ApiError::bad("group_by", message)
        })?;
        if !group_by.contains(&dimension) {
            group_by.push(dimension);
        }
    }
    Ok(CostQuery {
        from,
        to,
        granularity,
        group_by,
    })
}

fn date(params: &HashMap<String, String>, name: &'static str) -> Result<NaiveDate, ApiError> {
    let text = params
        .get(name)
        .ok_or_else(|| ApiError::bad(name, "is required, as a UTC date YYYY-MM-DD"))?;
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| ApiError::bad(name, format!("`{text}` is not a date YYYY-MM-DD")))
}

fn granularity_name(granularity: Granularity) -> &'static str {
    match granularity {
        Granularity::Day => "day",
        Granularity::Month => "month",
    }
}

fn to_json(row: &CostRow, query: &CostQuery) -> Map<String, Value> {
    let end = match query.granularity {
        Granularity::Day => row.period_start.succ_opt(),
        Granularity::Month => row.period_start.checked_add_months(chrono::Months::new(1)),
    };
    // A month row covers only the days of the month inside [from, to): say so.
    let start = row.period_start.max(query.from);
    let end = end.map(|end| end.min(query.to));
    let mut out = Map::new();
    out.insert("period_start".into(), Value::from(start.to_string()));
    out.insert("period_end".into(), Value::from(end.map(|d| d.to_string())));
    for (dimension, value) in &row.dimensions {
        out.insert(dimension.name().into(), Value::from(value.clone()));
    }
    out.insert(
        "BillingCurrency".into(),
        Value::from(row.billing_currency.clone()),
    );
    out.insert(
        "BilledCost".into(),
        Value::from(row.billed_cost.to_string()),
    );
    out.insert(
        "EffectiveCost".into(),
        Value::from(row.effective_cost.to_string()),
    );
    out
}

#[cfg(test)]
mod tests {
    use axum::body::{to_bytes, Body};
    use axum::http::{Request, StatusCode};
    use costflow_store::StoreConfig;
    use tower::ServiceExt;

    use super::*;

    fn app() -> axum::Router {
        // Nothing listens here: requests that reach the store fail, which the
        // validation tests never do.
        crate::router(Store::new(StoreConfig {
            url: "http://127.0.0.1:9".into(),
            database: "none".into(),
            user: "default".into(),
            password: String::new(),
        }))
    }

    async fn get(uri: &str) -> (StatusCode, Value) {
        let request = Request::get(uri).body(Body::empty()).unwrap();
        let response = app().oneshot(request).await.unwrap();
        let status = response.status();
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn bad_parameters_get_400_naming_the_parameter() {
        let cases = [
            ("/v1/costs?to=2024-10-01", "from"),
            ("/v1/costs?from=2024-09-01", "to"),
            ("/v1/costs?from=2024-13-01&to=2024-10-01", "from"),
            ("/v1/costs?from=2024-09-01&to=2024-09-01", "to"),
            (
                "/v1/costs?from=2024-09-01&to=2024-10-01&granularity=week",
                "granularity",
            ),
            (
                "/v1/costs?from=2024-09-01&to=2024-10-01&group_by=ServiceName,Colour",
                "group_by",
            ),
            ("/v1/costs?from=2024-09-01&to=2024-10-01&frmo=x", "query"),
        ];
        for (uri, parameter) in cases {
            let (status, body) = get(uri).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
            assert_eq!(body["error"]["parameter"], parameter, "{uri}: {body}");
            assert!(body["error"]["message"].as_str().unwrap().len() > 5);
        }
    }

    #[tokio::test]
    async fn readyz_is_503_and_healthz_200_without_clickhouse() {
        assert_eq!(get("/healthz").await.0, StatusCode::OK);
        assert_eq!(get("/readyz").await.0, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn openapi_document_is_json_and_describes_costs() {
        let (status, body) = get("/v1/openapi.json").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body["paths"]["/v1/costs"]["get"].is_object());
    }

    #[test]
    fn group_by_accepts_focus_names_in_any_case_once_each() {
        let params = HashMap::from([
            ("from".to_owned(), "2024-09-01".to_owned()),
            ("to".to_owned(), "2024-10-01".to_owned()),
            (
                "group_by".to_owned(),
                "servicename, BillingAccountId,ServiceName".to_owned(),
            ),
        ]);
        let query = parse(&params).unwrap();
        assert_eq!(
            query.group_by,
            [Dimension::ServiceName, Dimension::BillingAccountId]
        );
        assert_eq!(query.granularity, Granularity::Day);
    }
}
