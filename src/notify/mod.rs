//! Notifications: the notifier types (`notifiers!`, one line each), the checked
//! `Notifier`, and the dispatcher (`Run`). This module and its children are the
//! only code that sends anything. Imports point one way: this file → each
//! notifier's file (`email`, `healthchecks`, `ntfy`, `uptime_kuma`, `pushgateway`,
//! each implementing `event::Notify`) → the shared helpers (`event`, `settings`,
//! `message`, `http`, `error`), which import no notifier and nothing from here.
//!
//! Rules: every delivery runs under the notifier's timeout (10 s by default) and is
//! retried once; a delivery that still fails is logged at `warn` and counted (the
//! count goes into `restic_verify_notification_failures{notifier}`), and it never
//! changes the run's outcome or exit code. Notifier URLs hold secrets (a
//! Healthchecks UUID, an ntfy topic, an Uptime Kuma token): they are logged only as
//! scheme and host, and request errors are stripped of their URL.
//!
//! A fire drill (`restic-verify drill`) says so in every message: `DRILL` in each
//! title and subject, a first line explaining it in each body, and every
//! repository's summary line starts with `DRILL`. A drill is never a recovery, and
//! the Pushgateway gets the drill's own group, never the job's.

pub mod email;
pub mod error;
pub mod event;
pub mod healthchecks;
pub mod http;
pub mod message;
pub mod ntfy;
pub mod pushgateway;
pub mod settings;
pub mod uptime_kuma;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

pub use error::Error;
pub use event::{Context, Event, Notify};
pub use message::{Finish, DRILL_NOTE};
pub use settings::{read_secret_file, Check, SecretUrl, State, DEFAULT_TIMEOUT};

/// Pause before the one retry.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// Declares the notifier types, one line each: `Arm("type", module::Type)`. Makes
/// `Settings` (a `[notify.NAME]` table's keys by type: an enum tagged by the
/// type, which `config::raw::read` reads with serde) and `Kind` (a checked
/// notifier), and sends every call of the dispatcher to the type's `Notify`.
macro_rules! notifiers {
    ($($arm:ident($name:literal, $ty:ty),)*) => {
        /// A `[notify.NAME]` table's keys, by its `type` (serde's tag).
        #[derive(Debug, Clone, serde::Deserialize)]
        pub enum Settings {
            $(#[serde(rename = $name)] $arm(<$ty as Notify>::Settings),)*
        }

        /// A checked notifier of each type. `Debug` shows no secret.
        #[derive(Debug, Clone)]
        pub enum Kind {
            $($arm($ty),)*
        }

        impl Settings {
            /// Every `type`, in declaration order.
            pub const TYPES: &'static [&'static str] = &[$($name,)*];

            /// Checks the table into a notifier, every problem reported to `v`.
            pub fn check(&self, name: &str, v: &mut dyn Check) -> Option<Notifier> {
                match self {
                    $(Settings::$arm(s) => checked::<$ty>(s, name, $name, v)
                        .map(|(kind, states, timeout)| Notifier {
                            name: name.to_owned(),
                            kind: Kind::$arm(kind),
                            states,
                            timeout,
                        }),)*
                }
            }
        }

        impl Kind {
            /// Its `type`.
            pub fn type_name(&self) -> &'static str {
                match self { $(Kind::$arm(_) => $name,)* }
            }

            /// Where it sends, safe to log.
            pub fn describe(&self) -> String {
                match self { $(Kind::$arm(k) => k.describe(),)* }
            }

            /// Its secret files, by key.
            pub fn files(&self) -> Vec<(&'static str, &std::path::Path)> {
                match self { $(Kind::$arm(k) => k.files(),)* }
            }

            /// Where a bare UUID in its URL file points, if it takes one.
            pub fn uuid_base(&self) -> Option<&'static str> {
                match self { $(Kind::$arm(_) => <$ty as Notify>::UUID_BASE,)* }
            }

            async fn send(&self, ctx: &Context<'_>, event: &Event<'_>) -> Result<(), Error> {
                match self { $(Kind::$arm(k) => k.send(ctx, event).await,)* }
            }

            async fn probe(&self, timeout: Duration) -> Result<(), String> {
                match self { $(Kind::$arm(k) => k.probe(timeout).await,)* }
            }
        }
    };
}

notifiers! {
    Email("email", email::Email),
    Healthchecks("healthchecks", healthchecks::Healthchecks),
    Ntfy("ntfy", ntfy::Ntfy),
    UptimeKuma("uptime-kuma", uptime_kuma::UptimeKuma),
    Pushgateway("pushgateway", pushgateway::Pushgateway),
}

/// The keys every type shares (`timeout`, `states`), then the type's own.
fn checked<N: Notify>(
    s: &N::Settings,
    name: &str,
    type_name: &str,
    v: &mut dyn Check,
) -> Option<(N, Vec<State>, Duration)> {
    use settings::Common as _;
    let timeout = settings::timeout(v, name, s.timeout());
    let states = settings::states(
        v,
        name,
        type_name,
        s.states(),
        N::DEFAULT_STATES,
        N::SPEAKS_AT_START,
    );
    Some((N::check(s, name, v)?, states, timeout))
}

/// One `[notify.NAME]` table, checked.
#[derive(Debug, Clone)]
pub struct Notifier {
    pub name: String,
    pub kind: Kind,
    pub states: Vec<State>,
    pub timeout: Duration,
}

impl Notifier {
    /// Its secret files that cannot be read here, one message each. A path under
    /// an unset `$CREDENTIALS_DIRECTORY` is only known to the service: not checked.
    pub fn unreadable_files(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (key, f) in self.kind.files() {
            if f.to_string_lossy().contains("$CREDENTIALS_DIRECTORY") {
                continue;
            }
            let check = if key == "url-file" {
                SecretUrl::File(f.to_owned())
                    .resolve_with(self.kind.uuid_base())
                    .map(|_| ())
            } else {
                read_secret_file(f, "secret", "file").map(|_| ())
            };
            if let Err(e) = check {
                out.push(format!("[notify.{}] `{key}`: {e}", self.name));
            }
        }
        out
    }
}

/// One job run's notifications: the shared run id and what servers told us.
pub struct Run<'a> {
    notifiers: Vec<&'a Notifier>,
    /// A fire drill: the start notifications say so too.
    pub drill: bool,
    /// Pairs Healthchecks' start and finish pings.
    pub rid: uuid::Uuid,
    /// What a server told the start that the finish needs (Healthchecks'
    /// `Ping-Body-Limit`).
    learnt: Mutex<Option<usize>>,
    client: reqwest::Client,
}

impl<'a> Run<'a> {
    pub fn new(notifiers: Vec<&'a Notifier>) -> Run<'a> {
        Run {
            notifiers,
            drill: false,
            rid: uuid::Uuid::new_v4(),
            learnt: Mutex::new(None),
            client: http::client(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.notifiers.is_empty()
    }

    /// Sends `start` to the notifiers that want it; failures per notifier.
    pub async fn start(&self, job: &str, repositories: &[String]) -> BTreeMap<String, u64> {
        let wanted: Vec<&Notifier> = self
            .notifiers
            .iter()
            .copied()
            .filter(|n| n.states.contains(&State::Start))
            .collect();
        let sends = wanted.iter().map(|n| async move {
            let ok = self
                .deliver(n, State::Start, || async move {
                    let event = Event::Start { job, repositories };
                    n.kind.send(&self.context(n), &event).await
                })
                .await;
            (n.name.clone(), u64::from(!ok))
        });
        futures_collect(sends).await
    }

    /// Sends the finish (success, failure or recovery) to the notifiers that want
    /// it; returns the failed deliveries per notifier (every notifier of the job
    /// listed, 0 where all went well).
    pub async fn finish(&self, f: &Finish<'_>) -> BTreeMap<String, u64> {
        let sends = self.notifiers.iter().map(|n| async move {
            let state = if f.passed() {
                if f.recovery && n.states.contains(&State::Recovery) {
                    Some(State::Recovery)
                } else if n.states.contains(&State::Success) {
                    Some(State::Success)
                } else {
                    None
                }
            } else if n.states.contains(&State::Failure) {
                Some(State::Failure)
            } else {
                None
            };
            let ok = match state {
                Some(state) => {
                    self.deliver(n, state, || async move {
                        let event = Event::Finish { state, finish: f };
                        n.kind.send(&self.context(n), &event).await
                    })
                    .await
                }
                None => true,
            };
            (n.name.clone(), u64::from(!ok))
        });
        futures_collect(sends).await
    }

    /// Runs one delivery with the timeout and one retry; logs the outcome.
    async fn deliver<F, Fut>(&self, n: &Notifier, state: State, send: F) -> bool
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), Error>>,
    {
        for attempt in 1..=2 {
            let result = match tokio::time::timeout(n.timeout, send()).await {
                Ok(r) => r,
                Err(_) => Err(Error::Timeout {
                    target: n.kind.describe(),
                    timeout: n.timeout,
                }),
            };
            match result {
                Ok(()) => {
                    tracing::info!(
                        notifier = n.name,
                        "notified {} ({})",
                        state.as_str(),
                        n.kind.type_name()
                    );
                    return true;
                }
                Err(e) if attempt == 1 => {
                    tracing::warn!(
                        notifier = n.name,
                        "notification `{}` ({}) failed, retrying once: {e}",
                        n.name,
                        state.as_str()
                    );
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                Err(e) => {
                    tracing::warn!(
                        notifier = n.name,
                        "notification `{}` ({}) failed; the run's outcome is unchanged: {e}",
                        n.name,
                        state.as_str()
                    );
                }
            }
        }
        false
    }

    /// What `n`'s deliveries of this run share.
    fn context(&self, n: &Notifier) -> Context<'_> {
        Context {
            client: &self.client,
            rid: self.rid,
            drill: self.drill,
            timeout: n.timeout,
            learnt: &self.learnt,
        }
    }
}

/// Awaits the deliveries concurrently and sums `(name, failures)` pairs.
async fn futures_collect<F>(futures: impl Iterator<Item = F>) -> BTreeMap<String, u64>
where
    F: std::future::Future<Output = (String, u64)>,
{
    let mut out = BTreeMap::new();
    for (name, failed) in futures_util::future::join_all(futures).await {
        *out.entry(name).or_insert(0) += failed;
    }
    out
}

/// Reaches a notifier without sending anything (any request would count as a
/// ping): logs in to an SMTP server, opens (and closes) a TCP connection to an HTTP
/// one, after reading its URL file.
///
/// # Errors
/// What stopped it, URL shown only as scheme and host.
pub async fn probe(n: &Notifier) -> Result<(), String> {
    n.kind.probe(n.timeout).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_states_per_type() {
        assert_eq!(
            healthchecks::Healthchecks::DEFAULT_STATES,
            &[State::Start, State::Success, State::Failure]
        );
        assert_eq!(
            email::Email::DEFAULT_STATES,
            &[State::Failure, State::Recovery]
        );
        assert_eq!(
            ntfy::Ntfy::DEFAULT_STATES,
            &[State::Failure, State::Recovery]
        );
        assert_eq!(
            uptime_kuma::UptimeKuma::DEFAULT_STATES,
            &[State::Success, State::Failure]
        );
        assert_eq!(
            pushgateway::Pushgateway::DEFAULT_STATES,
            &[State::Success, State::Failure]
        );
    }

    #[test]
    fn kind_debug_shows_no_url_password_or_token() {
        let k = Kind::Pushgateway(pushgateway::Pushgateway {
            url: reqwest::Url::parse("https://push:hunter22@pg.example/").expect("url"),
            instance: "h".into(),
        });
        let d = format!("{k:?}");
        assert!(!d.contains("hunter22") && d.contains("pg.example"), "{d}");
        let k = Kind::Ntfy(ntfy::Ntfy {
            url: SecretUrl::Inline(crate::secret::Secret::new("https://ntfy.sh/topic-s3cret")),
            token_file: None,
        });
        assert!(!format!("{k:?}").contains("topic-s3cret"));
    }
}
