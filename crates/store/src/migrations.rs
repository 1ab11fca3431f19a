//! Schema migrations, embedded in the binary and applied in order.
//!
//! Each migration runs once per database and is recorded in `schema_migrations`;
//! every statement is also written to be harmless when repeated, so two instances
//! starting at once cannot break the schema: `CREATE ... IF NOT EXISTS`, and for
//! `ALTER TABLE ... ADD COLUMN` (ClickHouse 18.16 has no `IF NOT EXISTS` there) an
//! "already exists" answer counts as applied.

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
    (
        4,
        "line_items_rest",
        include_str!("../migrations/0004_line_items_rest.sql"),
    ),
    (
        5,
        "cost_daily_rest",
        include_str!("../migrations/0005_cost_daily_rest.sql"),
    ),
    (
        6,
        "line_items_insert_id",
        include_str!("../migrations/0006_line_items_insert_id.sql"),
    ),
    (
        7,
        "cost_daily_refresh_kind",
        include_str!("../migrations/0007_cost_daily_refresh_kind.sql"),
    ),
];

/// How ClickHouse, 18.16 and current, words adding a column that is there. Each
/// `ADD COLUMN` migration is one `ALTER`, applied whole or not at all, so this
/// answer means another instance applied it first.
const COLUMN_EXISTS: &str = "column with this name already exists";

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
            match self.client.query(sql).execute().await {
                Ok(()) => {}
                Err(err) if err.to_string().contains(COLUMN_EXISTS) => {
                    tracing::info!(version, name, "migration's columns already there");
                }
                Err(err) => return Err(ch_err(format!("migration {version} {name}"))(err)),
            }
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
