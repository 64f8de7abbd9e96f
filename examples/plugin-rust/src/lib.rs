//! An example trigger: appends a line per landed flight to a departures-board file.
//!
//! Listener:
//! ```yaml
//! triggers:
//!   - type: plugin
//!     path: examples/plugin-rust/flight_board.wasm
//!     config:
//!       board: /var/lib/board/arrivals.txt
//!       airline: AZ            # optional: only this airline's flights
//!     allow:
//!       write: [/var/lib/board]
//! ```

use std::io::Write;

use aviso_sdk::{Config, Context, Error, Notification, Trigger, log};
use serde::Deserialize;

/// The trigger's `config:` block.
#[derive(Deserialize)]
struct Settings {
    /// The file the lines are appended to.
    board: String,
    /// Only flights whose number starts with this.
    airline: Option<String>,
}

struct FlightBoard;

impl Trigger for FlightBoard {
    /// Checked once, when the listener loads: a bad configuration stops it from starting
    /// (`board is a mandatory field`, `airline: invalid type: ...`).
    fn validate(config: &Config) -> Result<(), Error> {
        config.parse_as::<Settings>()?;
        Ok(())
    }

    fn run(config: &Config, notification: &Notification) -> Result<(), Error> {
        let settings: Settings = config.parse_as()?;
        let number = notification.request_value("number").unwrap_or("?");
        if let Some(airline) = &settings.airline
            && !number.starts_with(airline.as_str())
        {
            log::debug(&format!("{number} is not an {airline} flight"));
            return Ok(());
        }
        let line = format!(
            "{} {} {} {}\n",
            notification.request_value("date").unwrap_or("?"),
            notification.request_value("airport").unwrap_or("?"),
            number,
            notification.payload.as_deref().unwrap_or("(no status)"),
        );
        let board = &settings.board;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(board)
            .and_then(|mut file| file.write_all(line.as_bytes()))
            .with_context(|| format!("cannot write {board}"))?;
        log::info(&format!("{number} is on the board"));
        Ok(())
    }
}

aviso_sdk::export_trigger!(FlightBoard);
