//! What parsing may know about the world (`Env`), below the validators that read
//! it; `config::Env::from_process`, in mod.rs beside `load`, is where it is read.

/// What parsing may know about the world, passed in so that parsing itself does no
/// I/O and reads no clock: the systemd credentials directory, this host's name
/// (a Pushgateway `instance` default) and the time (a schedule must fire again).
#[derive(Debug, Clone)]
pub struct Env {
    pub credentials_directory: Option<std::ffi::OsString>,
    pub host: String,
    pub now: chrono::DateTime<chrono::Local>,
}
