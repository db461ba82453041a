//! SIGINT/SIGTERM → a `CancellationToken`; a no-op variant for tests.
//!
//! The first signal cancels the token: running restic calls get SIGINT (so restic
//! removes its lock), temporary data is removed, and the records of what was cut
//! short are written with category `interrupted`. The daemon also listens to SIGHUP
//! (reload the profile) and SIGUSR1 (run every job now). Nothing else in the crate
//! installs signal handlers.

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

/// Which signal handling to install.
#[derive(Debug, Clone, Copy)]
pub enum SignalHandlerKind {
    /// SIGINT and SIGTERM cancel the run.
    Standard,
    /// Nothing; useful for tests.
    Noop,
}

/// Installs handlers and returns the token they cancel.
///
/// # Errors
/// The handlers could not be registered.
pub fn install(kind: SignalHandlerKind) -> std::io::Result<CancellationToken> {
    let token = CancellationToken::new();
    if let SignalHandlerKind::Standard = kind {
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let t = token.clone();
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
            tracing::warn!("{name} received: stopping restic and cleaning up");
            t.cancel();
        });
    }
    Ok(token)
}

/// The daemon's extra signals.
pub struct DaemonSignals {
    /// SIGHUP: reload the profile.
    pub reload: tokio::signal::unix::Signal,
    /// SIGUSR1: run every job now.
    pub run_now: tokio::signal::unix::Signal,
}

/// Installs SIGHUP and SIGUSR1 handlers (replacing their default action, which
/// would end the process).
///
/// # Errors
/// The handlers could not be registered.
pub fn daemon() -> std::io::Result<DaemonSignals> {
    Ok(DaemonSignals {
        reload: signal(SignalKind::hangup())?,
        run_now: signal(SignalKind::user_defined1())?,
    })
}
