//! Repository backends read in process, besides those rustic_backend opens: `sftp`
//! (through the `ssh` that `process` starts).

pub mod sftp;
