//! The interface every notifier implements (`Notify`): its settings check
//! themselves into it, it says where it sends, sends an event (a job's start or
//! finish) and probes its server without sending. The dispatcher (`notify::Run`)
//! reaches each type through one arm of `notify::Kind`, and wraps every send in the
//! timeout, the one retry and the logging; a notifier only sends.

use std::future::Future;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use super::error::Error;
use super::message::Finish;
use super::settings::{Check, Common, State};

/// What a notifier is told.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A job is about to run on these repositories.
    Start {
        job: &'a str,
        repositories: &'a [String],
    },
    /// A job ended; `state` is success, failure or recovery.
    Finish {
        state: State,
        finish: &'a Finish<'a>,
    },
}

/// What one job run's deliveries share.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub client: &'a reqwest::Client,
    /// Pairs a start with its finish (Healthchecks' `rid`).
    pub rid: uuid::Uuid,
    /// A fire drill: start notifications say so too.
    pub drill: bool,
    /// This notifier's timeout (the dispatcher enforces it; SMTP uses it too).
    pub timeout: Duration,
    /// What a server told the start that the finish needs (Healthchecks'
    /// `Ping-Body-Limit`).
    pub learnt: &'a Mutex<Option<usize>>,
}

/// One notifier type. Adding one: a file with a `keys!` settings struct and this
/// trait, one line in `notify::notifiers!`, and its keys in `config::keys`.
pub trait Notify: Sized + Clone + std::fmt::Debug {
    /// The `[notify.NAME]` keys of this type, as serde reads them (`keys!`).
    type Settings: Common + Clone + std::fmt::Debug;
    /// The states it speaks in when `states` is not set.
    const DEFAULT_STATES: &'static [State];
    /// Whether it has anything to say before a job starts.
    const SPEAKS_AT_START: bool = true;
    /// Where a bare UUID in its URL (file) points, if it takes one.
    const UUID_BASE: Option<&'static str> = None;

    /// Checks the type's own keys, reporting every problem to `v`; `None` when
    /// one is fatal.
    fn check(settings: &Self::Settings, name: &str, v: &mut dyn Check) -> Option<Self>;

    /// Where it sends, safe to log (no secret).
    fn describe(&self) -> String;

    /// Its secret files, by key (`validate` checks they can be read).
    fn files(&self) -> Vec<(&'static str, &Path)> {
        Vec::new()
    }

    /// Sends one event.
    ///
    /// # Errors
    /// A secret file unreadable, the request failed or was refused.
    fn send(
        &self,
        ctx: &Context<'_>,
        event: &Event<'_>,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Reaches the server without sending anything.
    ///
    /// # Errors
    /// What stopped it, URLs shown only as scheme and host.
    fn probe(&self, timeout: Duration) -> impl Future<Output = Result<(), String>> + Send;
}
