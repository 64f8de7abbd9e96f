//! The `log` trigger: appends pyaviso's log line for the notification to the file `path`,
//! `<asctime> - aviso - INFO - Notification received: <notification>`.
//!
//! The host lets this plugin write only in the directory of `path`, and passes the local time
//! zone's offset as `utc_offset_seconds` because a sandbox has no time zone database.

use std::io::Write;

use aviso_sdk::{Config, Error, Notification, Trigger, clock, pyjson};

struct Log;

impl Trigger for Log {
    fn validate(config: &Config) -> Result<(), Error> {
        config.require_str("path").map(|_| ())
    }

    fn run(config: &Config, notification: &Notification) -> Result<(), Error> {
        let path = config.require_str("path")?;
        let offset = config
            .get("utc_offset_seconds")
            .and_then(|v| v.as_i64())
            .unwrap_or(0);
        let line = format!(
            "{} - aviso - INFO - Notification received: {}\n",
            asctime(offset),
            pyjson::repr(&notification.to_json())
        );
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::Failed(format!("cannot open log file {path}: {e}")))?;
        file.write_all(line.as_bytes())
            .map_err(|e| Error::Failed(format!("cannot write log file {path}: {e}")))
    }
}

/// Python logging's `asctime`: local `YYYY-MM-DD HH:MM:SS,mmm`.
fn asctime(utc_offset_seconds: i64) -> String {
    let t = clock::now(utc_offset_seconds);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02},{:03}",
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.millisecond
    )
}

aviso_sdk::export_trigger!(Log);
