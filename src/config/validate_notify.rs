//! Validation of the `[notify.NAME]` tables into notifier settings: which keys
//! each type takes, URLs, secret files named (not read), states and timeouts.

use toml::Spanned;

use super::raw::OneOrMany;
use super::raw::RawNotify;
use super::validate::Validator;
use super::value::{is_loopback, nearest, valid_name};
use crate::notify::settings::{self, EmailOptions, Notifier, SecretUrl, State, TlsMode};
use crate::secret::Secret;

impl Validator<'_> {
    // LONG: over 150 lines, kept whole for now: issue #21 (the redesign) splits it with
    // the job interface; splitting it alone would churn code that redesign replaces.
    pub(super) fn notifier(
        &mut self,
        name: &str,
        spanned: &Spanned<RawNotify>,
    ) -> Option<Notifier> {
        let span = spanned.span();
        let n = spanned.get_ref();
        if !valid_name(name) {
            self.problem(
                Some(span.clone()),
                format!(
                    "notifier name `{name}` may only contain letters, digits, `.`, `_` and `-`"
                ),
            );
        }
        const TYPES: [&str; 5] = [
            "email",
            "healthchecks",
            "ntfy",
            "uptime-kuma",
            "pushgateway",
        ];
        let Some(ty) = &n.r#type else {
            self.problem(
                Some(span),
                format!(
                    "[notify.{name}] has no `type`; use one of {}",
                    TYPES.join(", ")
                ),
            );
            return None;
        };
        let type_name = ty.get_ref().as_str();
        if !TYPES.contains(&type_name) {
            let hint = nearest(type_name, &TYPES)
                .map(|k| format!("did you mean `{k}`? "))
                .unwrap_or_default();
            self.problem(Some(ty.span()), format!("[notify.{name}] `type = \"{type_name}\"` is not a notifier type; {hint}(types: {})", TYPES.join(", ")));
            return None;
        }
        // Keys that belong to another type are mistakes worth naming.
        let email_only = [
            ("smtp-host", n.smtp_host.is_some()),
            ("smtp-port", n.smtp_port.is_some()),
            ("tls", n.tls.is_some()),
            ("from", n.from.is_some()),
            ("to", n.to.is_some()),
            ("username", n.username.is_some()),
            ("password-file", n.password_file.is_some()),
            ("ca-file", n.ca_file.is_some()),
        ];
        let mut foreign: Vec<&str> = Vec::new();
        if type_name != "email" {
            foreign.extend(email_only.iter().filter(|(_, set)| *set).map(|(k, _)| *k));
        } else if n.url.is_some() || n.url_file.is_some() {
            foreign.push(if n.url.is_some() { "url" } else { "url-file" });
        }
        if type_name != "ntfy" && n.token_file.is_some() {
            foreign.push("token-file");
        }
        if type_name != "pushgateway" && n.instance.is_some() {
            foreign.push("instance");
        }
        if type_name == "pushgateway" && n.url_file.is_some() {
            foreign.push("url-file");
        }
        if !foreign.is_empty() {
            self.problem(
                Some(span.clone()),
                format!(
                    "[notify.{name}] (type {type_name}) does not use {}",
                    foreign
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        let timeout = self
            .duration("timeout", &n.timeout)
            .unwrap_or(settings::DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            self.problem(
                n.timeout.as_ref().map(Spanned::span),
                format!("[notify.{name}] `timeout` must be above zero"),
            );
        }
        let states = match &n.states {
            None => settings::Kind::default_states(type_name).to_vec(),
            Some(list) => {
                let mut out = Vec::new();
                for st in list.get_ref() {
                    match State::parse(st) {
                        Some(State::Start) if !settings::Kind::supports_start(type_name) => {
                            self.problem(Some(list.span()), format!("[notify.{name}] a {type_name} notifier has nothing to send at `start`; use success, failure, recovery"));
                        }
                        Some(x) => out.push(x),
                        None => self.problem(Some(list.span()), format!("[notify.{name}] `states` has `{st}`; use start, success, failure, recovery")),
                    }
                }
                out
            }
        };
        let url = match (&n.url, &n.url_file) {
            (Some(u), Some(_)) => {
                self.problem(
                    Some(u.span()),
                    format!("[notify.{name}] sets both `url` and `url-file`; keep one"),
                );
                None
            }
            (Some(u), None) => {
                // The URL itself is a secret: never echo it back.
                match reqwest::Url::parse(u.get_ref()) {
                    Ok(parsed)
                        if matches!(parsed.scheme(), "http" | "https")
                            && parsed.host_str().is_some() =>
                    {
                        Some(SecretUrl::Inline(Secret::new(u.get_ref().clone())))
                    }
                    // A bare check UUID means healthchecks.io.
                    _ if type_name == "healthchecks"
                        && uuid::Uuid::try_parse(u.get_ref()).is_ok() =>
                    {
                        Some(SecretUrl::Inline(Secret::new(u.get_ref().clone())))
                    }
                    _ => {
                        self.problem(Some(u.span()), format!("[notify.{name}] `url` is not an http(s) URL (value not shown; it may hold a token)"));
                        None
                    }
                }
            }
            (None, Some(f)) => Some(SecretUrl::File(self.file_path(f))),
            (None, None) => None,
        };
        let need_url = |v: &mut Self| {
            let what = match type_name {
                "healthchecks" => "the check's ping URL, e.g. url-file = \"/etc/restic-verify/hc-url\" holding https://hc-ping.com/<uuid>",
                "ntfy" => "server and topic, e.g. url = \"https://ntfy.sh/my-backups\"",
                "uptime-kuma" => "the push URL, e.g. url-file holding https://kuma.example/api/push/<token>",
                _ => "the base URL, e.g. url = \"http://pushgateway:9091\"",
            };
            v.problem(
                Some(span.clone()),
                format!("[notify.{name}] needs `url` or `url-file`: {what}"),
            );
        };
        let kind = match type_name {
            "email" => {
                let host = n.smtp_host.as_ref().map(|h| h.get_ref().clone());
                if host.is_none() {
                    self.problem(Some(span.clone()), format!("[notify.{name}] needs `smtp-host`, e.g. smtp-host = \"mail.example.org\""));
                }
                let tls = match n.tls.as_ref().map(|t| t.get_ref().as_str()) {
                    None | Some("starttls") => TlsMode::Starttls,
                    Some("tls") => TlsMode::Tls,
                    Some("none") => TlsMode::None,
                    Some(other) => {
                        self.problem(n.tls.as_ref().map(Spanned::span), format!("[notify.{name}] `tls = \"{other}\"`: use \"starttls\" (port 587), \"tls\" (port 465) or \"none\" (local relay, port 25)"));
                        TlsMode::Starttls
                    }
                };
                let from = n.from.as_ref().map(|f| f.get_ref().clone());
                match &from {
                    None => self.problem(Some(span.clone()), format!("[notify.{name}] needs `from`, e.g. from = \"restic-verify <backup@example.org>\"")),
                    Some(f) => {
                        if f.parse::<lettre::message::Mailbox>().is_err() {
                            self.problem(n.from.as_ref().map(Spanned::span), format!("[notify.{name}] `from = \"{f}\"` is not an email address"));
                        }
                    }
                }
                let to = n.to.clone().map(OneOrMany::into_vec).unwrap_or_default();
                if to.is_empty() {
                    self.problem(
                        Some(span.clone()),
                        format!("[notify.{name}] needs `to`, e.g. to = [\"admin@example.org\"]"),
                    );
                }
                for t in &to {
                    if t.parse::<lettre::message::Mailbox>().is_err() {
                        self.problem(
                            Some(span.clone()),
                            format!(
                                "[notify.{name}] `to` has `{t}`, which is not an email address"
                            ),
                        );
                    }
                }
                if n.username.is_some() != n.password_file.is_some() {
                    self.problem(Some(span.clone()), format!("[notify.{name}] `username` and `password-file` go together; set both or neither"));
                }
                if tls == TlsMode::None
                    && n.username.is_some()
                    && host.as_deref().is_some_and(|h| !is_loopback(h))
                {
                    self.problem(Some(span.clone()), format!("[notify.{name}] would send the SMTP password unencrypted to {}; use tls = \"starttls\" or \"tls\"", host.as_deref().unwrap_or("")));
                }
                settings::Kind::Email(EmailOptions {
                    port: n.smtp_port.unwrap_or(tls.default_port()),
                    host: host.unwrap_or_default(),
                    tls,
                    from: from.unwrap_or_default(),
                    to,
                    username: n.username.clone(),
                    password_file: n.password_file.as_ref().map(|p| self.file_path(p)),
                    ca_file: n.ca_file.as_ref().map(|p| self.file_path(p)),
                })
            }
            "pushgateway" => {
                let Some(u) = &n.url else {
                    need_url(self);
                    return None;
                };
                let url = match reqwest::Url::parse(u.get_ref()) {
                    Ok(url) if matches!(url.scheme(), "http" | "https") => url,
                    _ => {
                        self.problem(Some(u.span()), format!("[notify.{name}] `url` is not an http(s) URL, e.g. url = \"http://pushgateway:9091\""));
                        return None;
                    }
                };
                let instance = n
                    .instance
                    .as_ref()
                    .map_or_else(|| self.env.host.clone(), |i| i.get_ref().clone());
                if instance.is_empty() || instance.contains('/') {
                    self.problem(
                        n.instance.as_ref().map(Spanned::span),
                        format!("[notify.{name}] `instance` must be non-empty and without `/`"),
                    );
                }
                settings::Kind::Pushgateway { url, instance }
            }
            other => {
                let Some(url) = url else {
                    if n.url.is_none() && n.url_file.is_none() {
                        need_url(self);
                    }
                    return None;
                };
                match other {
                    "healthchecks" => settings::Kind::Healthchecks { url },
                    "ntfy" => settings::Kind::Ntfy {
                        url,
                        token_file: n.token_file.as_ref().map(|p| self.file_path(p)),
                    },
                    _ => settings::Kind::UptimeKuma { url },
                }
            }
        };
        Some(Notifier {
            name: name.to_owned(),
            kind,
            states,
            timeout,
        })
    }
}
