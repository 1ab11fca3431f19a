//! Schema migrations, embedded in the binary and applied in order.
//!
//! Each migration runs once per database and is recorded in `schema_migrations`;
//! every statement is also written to be harmless when repeated, so two instances
//! starting at once cannot break the schema.

use crate::{ch_err, Store, StoreError};

/// Every migration, oldest first: (version, name, SQL).
pub const MIGRATIONS: &[(u32, &str, &str)] = &[
    (
        1,
        "line_items",
        include_str!("../migrations/0001_line_items.sql"),
    ),
    (
        2,
        "cost_daily",
        include_str!("../migrations/0002_cost_daily.sql"),
    ),
    (
        3,
        "cost_daily_refresh",
        include_str!("../migrations/0003_cost_daily_refresh.sql"),
    ),
];

#[derive(clickhouse::Row, serde::Serialize)]
struct Applied<'a> {
    version: u32,
    name: &'a str,
}

impl Store {
    /// Creates the database if needed and applies every migration not yet applied.
    /// Returns the versions applied by this call.
    pub async fn migrate(&self) -> Result<Vec<u32>, StoreError> {
        let database = &self.config.database;
        Self::client(&self.config)
            .query(&format!("CREATE DATABASE IF NOT EXISTS `{database}`"))
            .execute()
            .await
            .map_err(ch_err(format!("create database {database}")))?;
        self.client
            .query(
                "CREATE TABLE IF NOT EXISTS schema_migrations \
                 (version UInt32, name String, applied_at DateTime DEFAULT now()) \
                 ENGINE = ReplacingMergeTree() ORDER BY version",
            )
            .execute()
            .await
            .map_err(ch_err("create schema_migrations"))?;

        let done: Vec<u32> = self
            .client
            .query("SELECT DISTINCT version FROM schema_migrations")
            .fetch_all()
            .await
            .map_err(ch_err("read schema_migrations"))?;

        let mut applied = Vec::new();
        for (version, name, sql) in MIGRATIONS {
            if done.contains(version) {
                continue;
            }
            self.client
                .query(sql)
                .execute()
                .await
                .map_err(ch_err(format!("migration {version} {name}")))?;
            let mut insert = self
                .client
                .insert::<Applied<'_>>("schema_migrations")
                .await
                .map_err(ch_err("record migration"))?;
            insert
                .write(&Applied {
                    version: *version,
                    name,
                })
                .await
                .map_err(ch_err("record migration"))?;
            insert.end().await.map_err(ch_err("record migration"))?;
            tracing::info!(version, name, database = %database, "migration applied");
            applied.push(*version);
        }
        Ok(applied)
    }
}
