//! The compactor: once a day it records the store's revision in a history kept in etcd
//! (pyaviso's format, a JSON list at `history_path`), drops the entries older than the
//! retention, and compacts etcd's history physically up to the newest dropped revision. So
//! `--from` replays reach back `retention_period` days, and etcd's size stays bounded.

use chrono::{DateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use crate::gateway::{Gateway, GatewayError};

/// One history entry: the store's revision at a day's start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub revision: u64,
    /// pyaviso's `%Y-%m-%dT%H:%M:%S.%fZ`, midnight UTC of the day recorded.
    pub timestamp: String,
}

const TIMESTAMP: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    chrono::NaiveDateTime::parse_from_str(text, TIMESTAMP)
        .ok()
        .map(|t| t.and_utc())
}

/// What one run did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq)]
pub struct CompactorReport {
    pub recorded: u64,
    pub dropped: Vec<HistoryEntry>,
    /// The revision compacted to, if any.
    pub compacted_to: Option<u64>,
    /// The history was not readable and was started anew.
    pub history_reset: bool,
}

pub struct Compactor {
    pub gateway: Gateway,
    pub history_path: String,
    pub retention_days: u32,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum CompactorError {
    #[error(transparent)]
    Store(#[from] GatewayError),
}

impl Compactor {
    /// Records today's revision, drops what is older than the retention and compacts to it.
    pub async fn run(
        &self,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<CompactorReport, CompactorError> {
        let recorded = self.gateway.revision().await?;
        let (mut history, history_reset) = match self.gateway.get(&self.history_path).await? {
            None => (Vec::new(), false),
            Some(bytes) => match serde_json::from_slice::<Vec<HistoryEntry>>(&bytes) {
                Ok(history) => (history, false),
                Err(e) => {
                    tracing::warn!(
                        "The compaction history at {} cannot be read ({e}); it is started anew, so nothing is compacted for {} days",
                        self.history_path,
                        self.retention_days
                    );
                    (Vec::new(), true)
                }
            },
        };
        let midnight = now.date_naive().and_time(NaiveTime::MIN).and_utc();
        history.push(HistoryEntry {
            revision: recorded,
            timestamp: midnight.format(TIMESTAMP).to_string(),
        });
        let limit = midnight - chrono::Duration::days(i64::from(self.retention_days));
        // An entry whose date cannot be read is kept: dropping it could compact too far.
        let (dropped, kept): (Vec<HistoryEntry>, Vec<HistoryEntry>) = history
            .into_iter()
            .partition(|entry| parse_timestamp(&entry.timestamp).is_some_and(|t| t <= limit));
        let compacted_to = dropped.iter().map(|entry| entry.revision).max();
        let report = CompactorReport {
            recorded,
            dropped,
            compacted_to,
            history_reset,
        };
        if dry_run {
            return Ok(report);
        }
        let text = serde_json::to_vec(&kept).expect("history serialises");
        self.gateway.put(&self.history_path, &text).await?;
        if let Some(revision) = compacted_to {
            match self.gateway.compact(revision).await {
                Ok(()) => {}
                // Compacted already (by an earlier run, or by hand): nothing to do.
                Err(e) if e.is_compacted() => {
                    tracing::info!("etcd was already compacted at or beyond revision {revision}")
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(report)
    }
}
