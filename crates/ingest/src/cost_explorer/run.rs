//! A Cost Explorer fetch: every request and page first, then publish.
//!
//! A newer source version of a billing period replaces the older one as a whole,
//! so a fetch that failed part way must publish nothing: every page is read into
//! memory before the first message is sent. A fetch holds one row per (day,
//! account, service[, tag value]), a few megabytes for a large organisation's
//! month.

use costflow_bus::KafkaConfig;

use super::api::{CostExplorerApi, Grouping, Query, SdkCostExplorer};
use super::reader::{keys_of, read_page, FetchContext};
use super::{CostExplorerError, CostExplorerOptions};
use crate::publish::{FileReport, IngestError, IngestReport, Outlet};
use crate::Row;

/// Most pages followed for one request; a service that keeps returning tokens
/// past this is not trusted to ever stop.
pub const MAX_PAGES: u32 = 10_000;

/// The rows of one request, all pages.
#[derive(Debug)]
pub struct FetchedRequest {
    /// The request, without its page.
    pub uri: String,
    /// Pages read.
    pub pages: u32,
    /// Every group of every page, as a record or a reject.
    pub rows: Vec<Row>,
}

/// Everything a fetch read, one entry per request.
pub type Fetched = Vec<FetchedRequest>;

/// Runs every request of the fetch and follows every page, then turns the groups
/// into records and rejects. Fails as a whole if any call fails.
pub async fn fetch(
    api: &impl CostExplorerApi,
    options: &CostExplorerOptions,
) -> Result<Fetched, CostExplorerError> {
    if options.billing_account.trim().is_empty() {
        return Err(CostExplorerError::NoBillingAccount);
    }
    let mut context = FetchContext::new(
        options.billing_account.trim(),
        options.start,
        options.end,
        options.source_version,
    );
    let base = Query {
        start: options.start,
        end: options.end,
        group_by: vec![Grouping::LinkedAccount, Grouping::Service],
        linked_account: None,
    };
    let mut fetched = Vec::new();

    let Some(tag_key) = &options.tag_key else {
        fetched.push(run_query(api, &base, 1, &mut context).await?);
        return Ok(fetched);
    };

    // Three groupings are one too many for Cost Explorer: list the accounts
    // first, then group each account's cost by service and tag.
    let accounts_query = Query {
        group_by: vec![Grouping::LinkedAccount],
        ..base.clone()
    };
    let accounts = list_accounts(api, &accounts_query, &mut context).await?;
    for (n, account) in accounts.into_iter().enumerate() {
        let query = Query {
            group_by: vec![Grouping::Service, Grouping::Tag(tag_key.clone())],
            linked_account: Some(account),
            ..base.clone()
        };
        let request = u32::try_from(n + 2).unwrap_or(u32::MAX);
        fetched.push(run_query(api, &query, request, &mut context).await?);
    }
    Ok(fetched)
}

/// Every page of one request, read into rows.
async fn run_query(
    api: &impl CostExplorerApi,
    query: &Query,
    request: u32,
    context: &mut FetchContext,
) -> Result<FetchedRequest, CostExplorerError> {
    let mut rows = Vec::new();
    let pages = for_each_page(api, query, request, |uri, page| {
        rows.extend(read_page(context, query, uri, page));
    })
    .await?;
    tracing::debug!(request, pages, groups = rows.len(), "request read");
    Ok(FetchedRequest {
        uri: query.request_uri(request),
        pages,
        rows,
    })
}

/// The linked accounts with cost in the range, in id order, with their names.
async fn list_accounts(
    api: &impl CostExplorerApi,
    query: &Query,
    context: &mut FetchContext,
) -> Result<Vec<String>, CostExplorerError> {
    let mut accounts = std::collections::BTreeSet::new();
    for_each_page(api, query, 1, |_, page| {
        accounts.extend(keys_of(query, page, &Grouping::LinkedAccount));
        context.descriptions.extend(
            page.descriptions
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
    })
    .await?;
    Ok(accounts.into_iter().collect())
}

/// Calls `each` on every page of the query, following `NextPageToken` with an
/// otherwise identical request; the number of pages.
async fn for_each_page(
    api: &impl CostExplorerApi,
    query: &Query,
    request: u32,
    mut each: impl FnMut(&str, &super::api::Page),
) -> Result<u32, CostExplorerError> {
    let mut token: Option<String> = None;
    let mut page_number = 0;
    loop {
        page_number += 1;
        let uri = query.uri(request, page_number);
        if page_number > MAX_PAGES {
            return Err(CostExplorerError::TooManyPages {
                uri,
                limit: MAX_PAGES,
            });
        }
        let page =
            api.get_page(query, token.as_deref())
                .await
                .map_err(|err| CostExplorerError::Call {
                    uri: uri.clone(),
                    message: err.0,
                })?;
        each(&uri, &page);
        match page.next_page_token.filter(|t| !t.is_empty()) {
            Some(next) if Some(&next) == token.as_ref() => {
                return Err(CostExplorerError::Call {
                    uri,
                    message: format!("NextPageToken {next:?} repeats the token just sent"),
                })
            }
            Some(next) => token = Some(next),
            None => return Ok(page_number),
        }
    }
}

/// Publishes a fetch's records and rejects and waits for every delivery report.
/// One report entry per request; groups read = published + rejected.
///
/// Blocking: call it from a thread that may block (`spawn_blocking`).
pub fn publish(fetched: &Fetched, kafka: &KafkaConfig) -> Result<IngestReport, IngestError> {
    let mut outlet = Outlet::new(kafka)?;
    let mut report = IngestReport::default();

    for request in fetched {
        let mut entry = FileReport {
            uri: request.uri.clone(),
            ..FileReport::default()
        };
        for row in &request.rows {
            outlet.row(&mut entry, row)?;
        }
        entry.rows_read = entry.published + entry.rejected;
        tracing::info!(
            request = %entry.uri,
            pages = request.pages,
            groups_read = entry.rows_read,
            published = entry.published,
            rejected = entry.rejected,
            "request ingested"
        );
        report.files.push(entry);
    }

    outlet.finish(&mut report)?;
    Ok(report)
}

/// Why a Cost Explorer ingest failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The fetch failed; nothing was published.
    #[error(transparent)]
    Fetch(#[from] CostExplorerError),
    /// Publishing failed.
    #[error(transparent)]
    Publish(#[from] IngestError),
    /// The publishing thread died.
    #[error("publishing thread: {0}")]
    Thread(String),
}

/// Fetches through the AWS SDK, then publishes.
pub async fn ingest_cost_explorer(
    options: &CostExplorerOptions,
    kafka: &KafkaConfig,
) -> Result<IngestReport, RunError> {
    let api = SdkCostExplorer::new(options).await;
    let fetched = fetch(&api, options).await?;
    let kafka = kafka.clone();
    tokio::task::spawn_blocking(move || publish(&fetched, &kafka))
        .await
        .map_err(|err| RunError::Thread(err.to_string()))?
        .map_err(RunError::from)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use chrono::NaiveDate;

    use super::super::api::{CallError, Group, Metric, Page, TimeResult};
    use super::super::{RetryOptions, METRICS};
    use super::*;

    /// Answers from a script, recording every call.
    struct Scripted {
        pages: Mutex<Vec<Result<Page, CallError>>>,
        calls: Mutex<Vec<(Query, Option<String>)>>,
    }

    impl CostExplorerApi for Scripted {
        async fn get_page(&self, query: &Query, token: Option<&str>) -> Result<Page, CallError> {
            self.calls
                .lock()
                .unwrap()
                .push((query.clone(), token.map(str::to_owned)));
            let mut pages = self.pages.lock().unwrap();
            if pages.is_empty() {
                return Err(CallError("script ran out".to_owned()));
            }
            pages.remove(0)
        }
    }

    fn scripted(pages: Vec<Result<Page, CallError>>) -> Scripted {
        Scripted {
            pages: Mutex::new(pages),
            calls: Mutex::new(Vec::new()),
        }
    }

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn options(tag_key: Option<&str>) -> CostExplorerOptions {
        CostExplorerOptions {
            start: day("2024-09-01"),
            end: day("2024-10-01"),
            tag_key: tag_key.map(str::to_owned),
            billing_account: "999988887777".to_owned(),
            endpoint_url: None,
            source_version: 1,
            retry: RetryOptions::default(),
        }
    }

    fn page(keys: &[&[&str]], token: Option<&str>) -> Page {
        let groups = keys
            .iter()
            .map(|keys| Group {
                keys: keys.iter().map(|k| (*k).to_owned()).collect(),
                metrics: METRICS
                    .iter()
                    .map(|m| {
                        let value = Metric {
                            amount: Some("1.25".to_owned()),
                            unit: Some("USD".to_owned()),
                        };
                        ((*m).to_owned(), value)
                    })
                    .collect(),
            })
            .collect();
        Page {
            results: vec![TimeResult {
                start: "2024-09-02".to_owned(),
                end: "2024-09-03".to_owned(),
                estimated: false,
                groups,
            }],
            next_page_token: token.map(str::to_owned),
            ..Page::default()
        }
    }

    #[tokio::test]
    async fn pages_are_followed_with_the_same_query_and_the_token() {
        let api = scripted(vec![
            Ok(page(&[&["1", "S3"]], Some("t1"))),
            Ok(page(&[&["1", "EC2"]], None)),
        ]);
        let fetched = fetch(&api, &options(None)).await.unwrap();
        assert_eq!(fetched.len(), 1);
        assert_eq!((fetched[0].pages, fetched[0].rows.len()), (2, 2));
        let calls = api.calls.lock().unwrap();
        assert_eq!(calls[0].0, calls[1].0);
        assert_eq!(calls[0].1, None);
        assert_eq!(calls[1].1.as_deref(), Some("t1"));
    }

    #[tokio::test]
    async fn a_tag_key_lists_accounts_then_groups_each_by_service_and_tag() {
        let api = scripted(vec![
            Ok(page(&[&["222"], &["111"], &["222"]], None)),
            Ok(page(&[&["S3", "Env$prod"]], None)),
            Ok(page(&[&["S3", "Env$"]], None)),
        ]);
        let fetched = fetch(&api, &options(Some("Env"))).await.unwrap();
        let calls = api.calls.lock().unwrap();
        let accounts: Vec<_> = calls.iter().map(|c| c.0.linked_account.clone()).collect();
        assert_eq!(accounts, [None, Some("111".into()), Some("222".into())]);
        assert_eq!(calls[1].0.group_by[1], Grouping::Tag("Env".to_owned()));
        let subs: Vec<_> = fetched
            .iter()
            .flat_map(|r| &r.rows)
            .map(|row| match row {
                Row::Record(r) => r.sub_account_id.clone().unwrap(),
                Row::Reject(r) => panic!("{r:?}"),
            })
            .collect();
        assert_eq!(subs, ["111", "222"]);
    }

    #[tokio::test]
    async fn a_failed_page_fails_the_whole_fetch() {
        let api = scripted(vec![
            Ok(page(&[&["1", "S3"]], Some("t1"))),
            Err(CallError(
                "LimitExceededException: Rate exceeded".to_owned(),
            )),
        ]);
        let err = fetch(&api, &options(None)).await.unwrap_err();
        assert!(err.to_string().contains("page=2"), "{err}");
    }

    #[tokio::test]
    async fn a_repeated_token_stops_the_fetch() {
        let api = scripted(vec![
            Ok(page(&[&["1", "S3"]], Some("t1"))),
            Ok(page(&[&["1", "EC2"]], Some("t1"))),
        ]);
        assert!(fetch(&api, &options(None)).await.is_err());
    }
}
