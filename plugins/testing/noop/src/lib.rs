//! Does nothing: what is measured with it is the host's cost of running a plugin.

use aviso_sdk::{Config, Error, Notification, Trigger};

struct Noop;

impl Trigger for Noop {
    fn run(_config: &Config, _notification: &Notification) -> Result<(), Error> {
        Ok(())
    }
}

aviso_sdk::export_trigger!(Noop);
