//! Integration tests of the PostgreSQL store against a real server: nesting in a caller's
//! transaction, round trips, migration, and concurrent races.

mod citus;
mod fault_matrix;
mod faults;
mod glob;
mod guards;
mod hostile;
mod isolation;
mod migrate;
mod nesting;
mod plans;
mod privileges;
mod races;
mod round_trips;
mod routing;
mod support;
mod timeouts;
mod unit;
mod window;
