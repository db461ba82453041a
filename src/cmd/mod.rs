//! One file per subcommand; each turns its arguments into a `Report`.

pub mod check;
pub mod daemon;
pub mod restore_test;
pub mod run;
pub mod validate;
