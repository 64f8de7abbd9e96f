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

use aviso_sdk::{Config, Error, Notification, Trigger, log};

struct FlightBoard;

impl Trigger for FlightBoard {
    /// Checked once, when the listener loads: a bad configuration stops it from starting.
    fn validate(config: &Config) -> Result<(), Error> {
        config.require_str("board")?;
        config.optional_str("airline")?;
        Ok(())
    }

    fn run(config: &Config, notification: &Notification) -> Result<(), Error> {
        let number = notification.request_value("number").unwrap_or("?");
        if let Some(airline) = config.optional_str("airline")?
            && !number.starts_with(airline)
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
        let board = config.require_str("board")?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(board)
            .and_then(|mut file| file.write_all(line.as_bytes()))
            .map_err(|e| Error::Failed(format!("cannot write {board}: {e}")))?;
        log::info(&format!("{number} is on the board"));
        Ok(())
    }
}

aviso_sdk::export_trigger!(FlightBoard);
