//! Python's `json.dumps` and `repr` of a notification, byte for byte: pyaviso's echo, log and
//! command outputs are what users' scripts parse.
//!
//! Both come from [`pycompat`] (CPython 3.11, Unicode 14.0.0), the crate the host writes keys,
//! status records and schema values with, tested against that Python.

pub use pycompat::json::dumps;
pub use pycompat::repr::repr;
