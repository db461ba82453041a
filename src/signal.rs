//! SIGINT/SIGTERM → a `CancellationToken`; a no-op variant for tests.
//!
//! The first signal cancels the token: running restic calls get SIGINT (so restic
//! removes its lock), temporary data is removed, and the records of what was cut
//! short are written with category `interrupted`. A second signal cancels the
//! `hurry` token: children are killed without waiting out their grace period, and
//! temporary data is still removed. The daemon also listens to SIGHUP
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

/// What the stop signals cancel.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    /// The first SIGINT/SIGTERM: stop, cleanly.
    pub cancel: CancellationToken,
    /// A second one: stop now (no grace for children).
    pub hurry: CancellationToken,
}

/// Installs handlers and returns the tokens they cancel.
///
/// # Errors
/// The handlers could not be registered.
pub fn install(kind: SignalHandlerKind) -> std::io::Result<Stop> {
    let stop = Stop::default();
    if let SignalHandlerKind::Standard = kind {
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let s = stop.clone();
        tokio::spawn(async move {
            let mut first = true;
            loop {
                let name = tokio::select! {
                    _ = int.recv() => "SIGINT",
                    _ = term.recv() => "SIGTERM",
                };
                if first {
                    tracing::warn!("{name} received: stopping restic and cleaning up (send it again to stop at once)");
                    s.cancel.cancel();
                    first = false;
                } else {
                    tracing::warn!(
                        "{name} received again: killing restic now; restored data is still removed"
                    );
                    s.hurry.cancel();
                }
            }
        });
    }
    Ok(stop)
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
