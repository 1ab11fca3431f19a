//! The boundary to Cost Explorer: one `GetCostAndUsage` page at a time.

use std::collections::BTreeMap;
use std::future::Future;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_costexplorer::config::Credentials;
use aws_sdk_costexplorer::error::{DisplayErrorContext, SdkError};
use aws_sdk_costexplorer::types::{
    DateInterval, Dimension, DimensionValues, Expression, Granularity, GroupDefinition,
    GroupDefinitionType,
};
use aws_smithy_http_client::tls;

use super::{CostExplorerOptions, METRICS, REGION};

/// One dimension or tag a request groups by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grouping {
    /// `LINKED_ACCOUNT`: the member account.
    LinkedAccount,
    /// `SERVICE`.
    Service,
    /// A cost allocation tag; group keys arrive as `KEY$VALUE`.
    Tag(String),
}

impl Grouping {
    /// The grouping as Cost Explorer names it, for locations and logs.
    pub fn describe(&self) -> String {
        match self {
            Grouping::LinkedAccount => "LINKED_ACCOUNT".to_owned(),
            Grouping::Service => "SERVICE".to_owned(),
            Grouping::Tag(key) => format!("TAG:{key}"),
        }
    }
}

/// One `GetCostAndUsage` request, before paging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// First day, inclusive.
    pub start: chrono::NaiveDate,
    /// Last day, exclusive.
    pub end: chrono::NaiveDate,
    /// At most two groupings, in key order.
    pub group_by: Vec<Grouping>,
    /// Only this linked account, when set.
    pub linked_account: Option<String>,
}

impl Query {
    /// The request as a URI: its number within the fetch and its parameters.
    pub fn request_uri(&self, request: u32) -> String {
        let groups: Vec<String> = self.group_by.iter().map(Grouping::describe).collect();
        let mut uri = format!(
            "aws-ce://GetCostAndUsage?request={request}&start={}&end={}&granularity=DAILY&group_by={}",
            self.start,
            self.end,
            groups.join(",")
        );
        if let Some(account) = &self.linked_account {
            uri.push_str("&linked_account=");
            uri.push_str(account);
        }
        uri
    }

    /// Where a page came from, as a URI: request number and page, then the
    /// request's parameters.
    pub fn uri(&self, request: u32, page: u32) -> String {
        self.request_uri(request).replacen(
            &format!("request={request}&"),
            &format!("request={request}&page={page}&"),
            1,
        )
    }
}

/// A metric's amount and unit, as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metric {
    /// Decimal text, kept exact.
    pub amount: Option<String>,
    /// Currency code for cost metrics.
    pub unit: Option<String>,
}

/// One group of one time period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    /// One key per grouping, in the request's order.
    pub keys: Vec<String>,
    /// Metric name to value.
    pub metrics: BTreeMap<String, Metric>,
}

/// One entry of `ResultsByTime`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimeResult {
    /// `TimePeriod.Start` as sent.
    pub start: String,
    /// `TimePeriod.End` as sent.
    pub end: String,
    /// Cost Explorer has not finalised this period yet.
    pub estimated: bool,
    /// The groups.
    pub groups: Vec<Group>,
}

/// One page of a `GetCostAndUsage` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// The periods of this page.
    pub results: Vec<TimeResult>,
    /// Attributes of dimension values: linked account id to its `description`.
    pub descriptions: BTreeMap<String, String>,
    /// Token for the next page, if there is one.
    pub next_page_token: Option<String>,
}

/// A failed call, after the SDK's retries.
#[derive(Debug, Clone)]
pub struct CallError(pub String);

/// Reads pages of `GetCostAndUsage`; the trait lets the fetch logic be tested
/// without the service.
pub trait CostExplorerApi {
    /// One page of the query: the first when `token` is `None`.
    fn get_page(
        &self,
        query: &Query,
        token: Option<&str>,
    ) -> impl Future<Output = Result<Page, CallError>> + Send;
}

/// The AWS SDK client.
#[derive(Debug, Clone)]
pub struct SdkCostExplorer {
    client: aws_sdk_costexplorer::Client,
}

impl SdkCostExplorer {
    /// A client for us-east-1 with credentials from the default provider chain
    /// (environment, profile, web identity, container, instance metadata), the
    /// endpoint override if any, and the options' retry policy.
    pub async fn new(options: &CostExplorerOptions) -> Self {
        Self::build(options, None).await
    }

    /// As [`SdkCostExplorer::new`], with fixed credentials instead of the chain.
    pub async fn with_credentials(options: &CostExplorerOptions, credentials: Credentials) -> Self {
        Self::build(options, Some(credentials)).await
    }

    async fn build(options: &CostExplorerOptions, credentials: Option<Credentials>) -> Self {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let retry = RetryConfig::standard()
            .with_max_attempts(options.retry.max_attempts.max(1))
            .with_initial_backoff(options.retry.initial_backoff)
            .with_max_backoff(options.retry.max_backoff);
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .operation_attempt_timeout(std::time::Duration::from_secs(120))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .http_client(http)
            .retry_config(retry)
            .timeout_config(timeouts);
        if let Some(url) = &options.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(credentials) = credentials {
            loader = loader.credentials_provider(credentials);
        }
        let config = loader.load().await;
        Self {
            client: aws_sdk_costexplorer::Client::new(&config),
        }
    }
}

impl CostExplorerApi for SdkCostExplorer {
    async fn get_page(&self, query: &Query, token: Option<&str>) -> Result<Page, CallError> {
        let period = DateInterval::builder()
            .start(query.start.to_string())
            .end(query.end.to_string())
            .build()
            .map_err(|err| CallError(err.to_string()))?;
        let mut request = self
            .client
            .get_cost_and_usage()
            .time_period(period)
            .granularity(Granularity::Daily)
            .set_metrics(Some(METRICS.iter().map(|m| (*m).to_owned()).collect()))
            .set_group_by(Some(query.group_by.iter().map(group_definition).collect()))
            .set_next_page_token(token.map(str::to_owned));
        if let Some(account) = &query.linked_account {
            let only = DimensionValues::builder()
                .key(Dimension::LinkedAccount)
                .values(account)
                .build();
            request = request.filter(Expression::builder().dimensions(only).build());
        }

        let output = request.send().await.map_err(describe)?;
        Ok(page_from(output))
    }
}

fn group_definition(grouping: &Grouping) -> GroupDefinition {
    let builder = GroupDefinition::builder();
    match grouping {
        Grouping::LinkedAccount => builder
            .r#type(GroupDefinitionType::Dimension)
            .key("LINKED_ACCOUNT"),
        Grouping::Service => builder
            .r#type(GroupDefinitionType::Dimension)
            .key("SERVICE"),
        Grouping::Tag(key) => builder.r#type(GroupDefinitionType::Tag).key(key),
    }
    .build()
}

fn describe<E, R>(err: SdkError<E, R>) -> CallError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    CallError(DisplayErrorContext(&err).to_string())
}

fn page_from(
    output: aws_sdk_costexplorer::operation::get_cost_and_usage::GetCostAndUsageOutput,
) -> Page {
    let results = output
        .results_by_time()
        .iter()
        .map(|result| {
            let period = result.time_period();
            TimeResult {
                start: period.map(|p| p.start().to_owned()).unwrap_or_default(),
                end: period.map(|p| p.end().to_owned()).unwrap_or_default(),
                estimated: result.estimated(),
                groups: result
                    .groups()
                    .iter()
                    .map(|group| Group {
                        keys: group.keys().to_vec(),
                        metrics: group
                            .metrics()
                            .into_iter()
                            .flatten()
                            .map(|(name, value)| {
                                let metric = Metric {
                                    amount: value.amount().map(str::to_owned),
                                    unit: value.unit().map(str::to_owned),
                                };
                                (name.clone(), metric)
                            })
                            .collect(),
                    })
                    .collect(),
            }
        })
        .collect();
    let descriptions = output
        .dimension_value_attributes()
        .iter()
        .filter_map(|attribute| {
            let value = attribute.value()?;
            let description = attribute.attributes()?.get("description")?;
            Some((value.to_owned(), description.clone()))
        })
        .collect();
    Page {
        results,
        descriptions,
        next_page_token: output.next_page_token().map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    //! The real SDK client against a tiny local HTTP server that throttles.

    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use chrono::NaiveDate;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::super::{fetch, RetryOptions};
    use super::*;

    const THROTTLED: &str =
        r#"{"__type":"com.amazonaws.ce#LimitExceededException","message":"Rate exceeded"}"#;

    fn page_body(token: Option<&str>) -> String {
        let next = token
            .map(|t| format!(r#","NextPageToken":"{t}""#))
            .unwrap_or_default();
        format!(
            r#"{{"GroupDefinitions":[{{"Type":"DIMENSION","Key":"LINKED_ACCOUNT"}},{{"Type":"DIMENSION","Key":"SERVICE"}}],
            "ResultsByTime":[{{"TimePeriod":{{"Start":"2024-09-01","End":"2024-09-02"}},"Total":{{}},"Estimated":true,
            "Groups":[{{"Keys":["111122223333","Amazon Simple Storage Service"],"Metrics":{{
              "UnblendedCost":{{"Amount":"40.3543773134","Unit":"USD"}},
              "AmortizedCost":{{"Amount":"40.3527508453","Unit":"USD"}},
              "NetAmortizedCost":{{"Amount":"40.1","Unit":"USD"}}}}}}]}}],
            "DimensionValueAttributes":[]{next}}}"#
        )
    }

    /// Serves the scripted answers in order, one per connection, recording each
    /// request's body; the last answer repeats.
    async fn serve(answers: Vec<(u16, String)>) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = bodies.clone();
        tokio::spawn(async move {
            let mut n = 0;
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (status, body) = answers[n.min(answers.len() - 1)].clone();
                n += 1;
                answer(stream, status, &body, &seen).await;
            }
        });
        (url, bodies)
    }

    async fn answer(mut stream: TcpStream, status: u16, body: &str, seen: &Mutex<Vec<String>>) {
        let mut request = Vec::new();
        let mut buffer = [0u8; 8192];
        let header_end = loop {
            let read = stream.read(&mut buffer).await.unwrap();
            assert!(read > 0, "client closed early");
            request.extend_from_slice(&buffer[..read]);
            if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
        };
        let head = String::from_utf8_lossy(&request[..header_end]).to_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0);
        while request.len() < header_end + length {
            let read = stream.read(&mut buffer).await.unwrap();
            request.extend_from_slice(&buffer[..read]);
        }
        seen.lock()
            .unwrap()
            .push(String::from_utf8_lossy(&request[header_end..]).into_owned());
        let reason = if status == 200 { "OK" } else { "Bad Request" };
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/x-amz-json-1.1\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).await.unwrap();
        stream.shutdown().await.unwrap();
    }

    fn options(url: &str, max_attempts: u32) -> CostExplorerOptions {
        CostExplorerOptions {
            start: NaiveDate::from_ymd_opt(2024, 9, 1).unwrap(),
            end: NaiveDate::from_ymd_opt(2024, 10, 1).unwrap(),
            tag_key: None,
            billing_account: "999988887777".to_owned(),
            endpoint_url: Some(url.to_owned()),
            source_version: 1,
            retry: RetryOptions {
                max_attempts,
                initial_backoff: Duration::from_millis(10),
                max_backoff: Duration::from_millis(50),
            },
        }
    }

    async fn client(options: &CostExplorerOptions) -> SdkCostExplorer {
        let credentials = Credentials::new("testing", "testing", None, None, "test");
        SdkCostExplorer::with_credentials(options, credentials).await
    }

    #[tokio::test]
    async fn throttled_calls_are_retried_with_the_same_request_and_no_page_is_skipped() {
        let (url, bodies) = serve(vec![
            (400, THROTTLED.to_owned()),
            (200, page_body(Some("page-2"))),
            (400, THROTTLED.to_owned()),
            (400, THROTTLED.to_owned()),
            (200, page_body(None)),
        ])
        .await;
        let options = options(&url, 5);
        let fetched = fetch(&client(&options).await, &options).await.unwrap();

        assert_eq!(fetched[0].pages, 2);
        assert_eq!(fetched[0].rows.len(), 2);
        let bodies = bodies.lock().unwrap();
        assert_eq!(bodies.len(), 5);
        assert_eq!(bodies[0], bodies[1], "a retry resends the same request");
        let without_token = bodies[2].replace(r#","NextPageToken":"page-2""#, "");
        assert_eq!(without_token, bodies[0], "the next page asks the same");
        assert!(!bodies[1].contains("NextPageToken"));
        assert!(
            bodies[2].contains(r#""NextPageToken":"page-2""#),
            "{}",
            bodies[2]
        );
        assert_eq!(bodies[2], bodies[4]);
        assert!(bodies[0].contains(r#""Granularity":"DAILY""#));
        for metric in ["UnblendedCost", "AmortizedCost", "NetAmortizedCost"] {
            assert!(bodies[0].contains(metric), "{}", bodies[0]);
        }
    }

    #[tokio::test]
    async fn throttling_past_the_last_attempt_fails_the_fetch() {
        let (url, bodies) = serve(vec![
            (200, page_body(Some("page-2"))),
            (400, THROTTLED.to_owned()),
        ])
        .await;
        let options = options(&url, 3);
        let err = fetch(&client(&options).await, &options).await.unwrap_err();

        assert!(err.to_string().contains("LimitExceededException"), "{err}");
        assert!(err.to_string().contains("page=2"), "{err}");
        assert_eq!(bodies.lock().unwrap().len(), 1 + 3);
    }
}
