//! Validation of the `[notify.NAME]` tables into notifiers: the table's name and
//! `type` here; the type's keys check themselves (`notify::Settings::check`,
//! reporting through `notify::Check`, which the validator implements here).

use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use super::raw::RawNotify;
use super::validate::Validator;
use super::value::{nearest, valid_name};
use crate::notify::{Check, Notifier, Settings};

impl Validator<'_> {
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
        let types = Settings::TYPES;
        let Some(ty) = &n.r#type else {
            self.problem(
                Some(span),
                format!(
                    "[notify.{name}] has no `type`; use one of {}",
                    types.join(", ")
                ),
            );
            return None;
        };
        let type_name = ty.get_ref().as_str();
        if !types.contains(&type_name) {
            let hint = nearest(type_name, types)
                .map(|k| format!("did you mean `{k}`? "))
                .unwrap_or_default();
            self.problem(Some(ty.span()), format!("[notify.{name}] `type = \"{type_name}\"` is not a notifier type; {hint}(types: {})", types.join(", ")));
            return None;
        }
        n.settings.as_ref()?.check(name, self)
    }
}

impl Check for Validator<'_> {
    fn problem(&mut self, span: Option<Range<usize>>, message: String) {
        Validator::problem(self, span, message);
    }

    fn duration(&mut self, key: &str, value: Option<&Spanned<String>>) -> Option<Duration> {
        Validator::duration(self, key, &value.cloned())
    }

    fn file_path(&self, value: &Spanned<String>) -> PathBuf {
        Validator::file_path(self, value)
    }

    fn host(&self) -> &str {
        &self.env.host
    }
}

#[cfg(test)]
#[path = "validate_notify_tests.rs"]
mod tests;
