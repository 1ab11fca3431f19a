//! The store: where cost records come to rest and projections are kept.
//!
//! The store consumer ([`consumer`]) reads `cost.records`, writes every record to the
//! ClickHouse `line_items` table ([`line_items`]) and refreshes the daily projection
//! ([`projection`]) of each billing period it touched, then commits its offsets.
//! The API and reports read only the projection, through [`Store::costs`].
//!
//! - [`migrations`]: the schema, applied from the binary, for ClickHouse 18.16 and
//!   current releases alike.

pub mod consumer;
pub mod line_items;
pub mod migrations;
pub mod projection;
pub mod refresh;

use std::time::Duration;

pub use consumer::{run_store_consumer, StoreConsumerOptions, StoreConsumerReport};
pub use projection::{CostQuery, CostRow, Dimension, Granularity};
pub use refresh::RefreshReport;

/// Everything that can go wrong talking to ClickHouse.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A statement failed.
    #[error("clickhouse {what}: {source}")]
    ClickHouse {
        /// What was being done, naming the table.
        what: String,
        /// The client's error.
        source: clickhouse::error::Error,
    },
    /// A value could not be written exactly.
    #[error("record {record_key}: {reason}")]
    Unstorable {
        /// The record.
        record_key: String,
        /// Why.
        reason: String,
    },
    /// ClickHouse returned something costflow cannot represent.
    #[error("reading {what}: {reason}")]
    Unreadable {
        /// The query.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

fn ch_err(what: impl Into<String>) -> impl FnOnce(clickhouse::error::Error) -> StoreError {
    let what = what.into();
    move |source| StoreError::ClickHouse { what, source }
}

/// How to reach ClickHouse.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// HTTP endpoint, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// Database holding costflow's tables; created by the migrations.
    pub database: String,
    /// User name.
    pub user: String,
    /// Password; never logged.
    pub password: String,
}

/// A handle on costflow's ClickHouse database.
#[derive(Clone)]
pub struct Store {
    client: clickhouse::Client,
    config: StoreConfig,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("url", &self.config.url)
            .field("database", &self.config.database)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// A store handle; nothing is contacted until the first statement.
    pub fn new(config: StoreConfig) -> Self {
        let client = Self::client(&config).with_database(&config.database);
        Self { client, config }
    }

    fn client(config: &StoreConfig) -> clickhouse::Client {
        // Schema validation reads system tables that ClickHouse 18.16 lacks.
        clickhouse::Client::default()
            .with_url(&config.url)
            .with_user(&config.user)
            .with_password(&config.password)
            .with_validation(false)
    }

    /// The database name.
    pub fn database(&self) -> &str {
        &self.config.database
    }

    /// Answers when ClickHouse executes a query within `timeout`.
    pub async fn ping(&self, timeout: Duration) -> Result<(), StoreError> {
        let query = self.client.query("SELECT 1").fetch_one::<u8>();
        match tokio::time::timeout(timeout, query).await {
            Ok(result) => result.map(|_| ()).map_err(ch_err("ping")),
            Err(_) => Err(StoreError::Unreadable {
                what: "ping",
                reason: format!("no answer within {timeout:?}"),
            }),
        }
    }
}
