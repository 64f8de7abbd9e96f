//! The cleaner: once a day it deletes the notifications of the day that left the retention
//! window, with pyaviso's layout: the admin keys of day D (`<dest_path><YYYYMMDD>/<destination>`)
//! name the destinations that had notifications that day; their `<diss_path><destination>/date=D`
//! keys go, then the admin keys, then `<mars_path>date=D`. Status keys are never deleted.
//!
//! Unlike pyaviso's, it catches up: the last day cleaned is recorded in etcd
//! (`progress_key`), and a run cleans every day after it up to today − retention, so a day
//! missed (the cleaner down, etcd unreachable at midnight) is cleaned at the next run. Without a
//! record it starts from the oldest day that still has admin keys.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::gateway::{Gateway, GatewayError};

pub struct Cleaner {
    pub gateway: Gateway,
    pub dest_path: String,
    pub diss_path: String,
    pub mars_path: String,
    pub retention_days: u32,
    pub progress_key: String,
}

/// The progress record at `progress_key`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Progress {
    /// The last day cleaned, `YYYYMMDD`.
    cleaned_through: String,
    /// When, RFC 3339.
    time: String,
}

/// What was (or, in a dry run, would be) deleted for one day.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DayReport {
    pub day: String,
    /// Each destination and how many of its keys.
    pub destinations: Vec<(String, u64)>,
    pub admin_keys: u64,
    pub mars_keys: u64,
}

impl DayReport {
    pub fn total(&self) -> u64 {
        self.destinations.iter().map(|(_, n)| n).sum::<u64>() + self.admin_keys + self.mars_keys
    }
}

const DAY: &str = "%Y%m%d";

impl Cleaner {
    /// The days to clean now: after the recorded one (or from the oldest with admin keys) up to
    /// `today − retention`.
    pub async fn days_due(&self, now: DateTime<Utc>) -> Result<Vec<NaiveDate>, GatewayError> {
        let last_due = now.date_naive() - chrono::Duration::days(i64::from(self.retention_days));
        let first = match self.progress().await? {
            Some(done) => done.succ_opt().unwrap_or(done),
            None => self
                .oldest_admin_day()
                .await?
                .unwrap_or(last_due)
                .min(last_due),
        };
        Ok(first
            .iter_days()
            .take_while(|day| *day <= last_due)
            .collect())
    }

    async fn progress(&self) -> Result<Option<NaiveDate>, GatewayError> {
        let Some(bytes) = self.gateway.get(&self.progress_key).await? else {
            return Ok(None);
        };
        let day = serde_json::from_slice::<Progress>(&bytes)
            .ok()
            .and_then(|p| NaiveDate::parse_from_str(&p.cleaned_through, DAY).ok());
        if day.is_none() {
            tracing::warn!(
                "The cleaner's progress record at {} cannot be read; starting from the oldest day with admin keys",
                self.progress_key
            );
        }
        Ok(day)
    }

    /// The oldest `YYYYMMDD` right under `dest_path`.
    async fn oldest_admin_day(&self) -> Result<Option<NaiveDate>, GatewayError> {
        let keys = self.gateway.keys(&self.dest_path).await?;
        Ok(keys
            .iter()
            .filter_map(|key| {
                let rest = key.strip_prefix(&self.dest_path)?;
                let day = rest.get(..8)?;
                NaiveDate::parse_from_str(day, DAY).ok()
            })
            .min())
    }

    /// Cleans every day due, recording each as it is done. Returns a report per day.
    pub async fn run(
        &self,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<Vec<DayReport>, GatewayError> {
        let mut reports = Vec::new();
        for day in self.days_due(now).await? {
            let report = self.clean_day(day, dry_run).await?;
            if !dry_run {
                let progress = Progress {
                    cleaned_through: day.format(DAY).to_string(),
                    time: Utc::now().to_rfc3339(),
                };
                self.gateway
                    .put(
                        &self.progress_key,
                        &serde_json::to_vec(&progress).expect("progress serialises"),
                    )
                    .await?;
            }
            reports.push(report);
        }
        Ok(reports)
    }

    /// Deletes (or counts) one day's keys.
    pub async fn clean_day(
        &self,
        day: NaiveDate,
        dry_run: bool,
    ) -> Result<DayReport, GatewayError> {
        let day = day.format(DAY).to_string();
        let admin_prefix = format!("{}{day}", self.dest_path);
        let mut destinations: Vec<String> = Vec::new();
        for key in self.gateway.keys(&admin_prefix).await? {
            // `/ec/admin/20210101/SCL` names destination SCL.
            let destination = key[admin_prefix.len()..]
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or_default()
                .to_string();
            if !destination.is_empty() && !destinations.contains(&destination) {
                destinations.push(destination);
            }
        }
        let delete = |prefix: String| async move {
            if dry_run {
                self.gateway.count(&prefix).await
            } else {
                self.gateway.delete_prefix(&prefix).await
            }
        };
        let mut report = DayReport {
            day: day.clone(),
            ..Default::default()
        };
        for destination in destinations {
            let deleted = delete(format!("{}{destination}/date={day}", self.diss_path)).await?;
            report.destinations.push((destination, deleted));
        }
        // The admin keys last but one: a run stopped half-way finds the destinations again.
        report.admin_keys = delete(admin_prefix).await?;
        report.mars_keys = delete(format!("{}date={day}", self.mars_path)).await?;
        Ok(report)
    }
}
