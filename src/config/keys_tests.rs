//! The key table against the serde tables: asks each `raw` struct which fields it
//! accepts (a deserializer that only records the field list serde hands to
//! `deserialize_struct`) and requires the table to list exactly those, per table.

use std::collections::BTreeSet;

use serde::de::{self, Deserialize, Deserializer, Visitor};

use super::{of, Table, KEYS};
use crate::config::raw::{RawDefaults, RawJob, RawNotify, RawRepository};

/// Records the fields of the struct serde asks for, then stops with an error.
struct Fields<'a>(&'a mut Vec<&'static str>);

#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stop")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Stop
    }
}

impl<'de> Deserializer<'de> for Fields<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        self.0.extend_from_slice(fields);
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
        enum identifier ignored_any
    }
}

fn accepted<'de, T: Deserialize<'de>>() -> BTreeSet<&'static str> {
    let mut fields = Vec::new();
    let _ = T::deserialize(Fields(&mut fields));
    assert!(!fields.is_empty(), "serde named no fields");
    fields.into_iter().collect()
}

#[test]
fn keys_table_lists_exactly_the_keys_each_raw_table_accepts() {
    for (table, want) in [
        (Table::Defaults, accepted::<RawDefaults>()),
        (Table::Repository, accepted::<RawRepository>()),
        (Table::Job, accepted::<RawJob>()),
        (Table::Notify, accepted::<RawNotify>()),
    ] {
        let got: BTreeSet<&str> = of(table).map(|k| k.name).collect();
        let missing: Vec<_> = want.difference(&got).collect();
        let extra: Vec<_> = got.difference(&want).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{}: keys the validator accepts but the table lacks: {missing:?}; keys the table lists but the validator refuses: {extra:?}",
            table.header()
        );
    }
}

#[test]
fn keys_table_names_each_key_once_per_table_and_documents_it() {
    for table in Table::ALL {
        let mut seen = BTreeSet::new();
        for k in of(table) {
            assert!(
                seen.insert(k.name),
                "{} lists `{}` twice",
                table.header(),
                k.name
            );
        }
    }
    for k in KEYS {
        assert!(!k.meaning.is_empty() && !k.default.is_empty(), "{k:?}");
        assert!(!k.tables.is_empty(), "{k:?}");
    }
}

#[test]
fn keys_of_a_job_act_on_known_kinds_only() {
    for k in of(Table::Job) {
        for kind in k.applies_to {
            assert!(
                ["check", "restore-test", "audit"].contains(kind),
                "`{}` names kind {kind}",
                k.name
            );
        }
    }
}
