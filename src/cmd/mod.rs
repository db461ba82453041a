//! One file per subcommand; each turns its arguments into a `Report`.

pub mod check;
pub mod run;
pub mod validate;
