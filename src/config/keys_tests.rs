//! The key table against the serde tables: asks each `raw` struct which fields it
//! accepts (a deserializer that only records the field list serde hands to
//! `deserialize_struct`) and requires the table to list exactly those, per table;
//! for `[notify.NAME]`, per notifier type (each arm of `notify::Settings`, walked
//! the same way).

use std::collections::BTreeSet;

use serde::de::{self, Deserialize, Deserializer, Visitor};

use super::{of, Table, KEYS};
use crate::config::raw::{RawDefaults, RawJob, RawRepository};
use crate::notify::Settings;

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

/// Picks arm `index` of the enum serde asks for: records the arm's name and the
/// fields of its struct.
struct Arm<'a> {
    index: u32,
    name: &'a mut Option<&'static str>,
    fields: &'a mut Vec<&'static str>,
}

impl<'de> Deserializer<'de> for Arm<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        *self.name = Some(*variants.get(self.index as usize).ok_or(Stop)?);
        visitor.visit_enum(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
        struct identifier ignored_any
    }
}

impl<'de, 'a> de::EnumAccess<'de> for Arm<'a> {
    type Error = Stop;
    type Variant = Arm<'a>;

    fn variant_seed<S: de::DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self), Stop> {
        let v = seed.deserialize(de::value::U32Deserializer::<Stop>::new(self.index))?;
        Ok((v, self))
    }
}

impl<'de> de::VariantAccess<'de> for Arm<'_> {
    type Error = Stop;

    fn unit_variant(self) -> Result<(), Stop> {
        Err(Stop)
    }

    fn newtype_variant_seed<S: de::DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, Stop> {
        seed.deserialize(Fields(self.fields))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        Err(Stop)
    }
}

/// Each arm of `notify::Settings` (its `type`) with the keys its struct accepts.
fn notifier_types() -> Vec<(&'static str, BTreeSet<&'static str>)> {
    let mut out = Vec::new();
    for index in 0.. {
        let (mut name, mut fields) = (None, Vec::new());
        let _ = Settings::deserialize(Arm {
            index,
            name: &mut name,
            fields: &mut fields,
        });
        let Some(name) = name else { break };
        assert!(!fields.is_empty(), "serde named no fields for {name}");
        out.push((name, fields.into_iter().collect()));
    }
    out
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
        (Table::Notify, notifier_keys()),
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

/// Every key some notifier type accepts, and `type`.
fn notifier_keys() -> BTreeSet<&'static str> {
    let mut keys: BTreeSet<&str> = notifier_types().into_iter().flat_map(|(_, k)| k).collect();
    keys.insert("type");
    keys
}

#[test]
fn keys_table_says_which_notifier_types_take_each_key_as_their_settings_do() {
    let types = notifier_types();
    assert_eq!(
        types.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        Settings::TYPES,
        "the arms of notify::Settings"
    );
    for (ty, want) in types {
        let got: BTreeSet<&str> = of(Table::Notify)
            .filter(|k| k.applies_to.is_empty() || k.applies_to.contains(&ty))
            .map(|k| k.name)
            .filter(|k| *k != "type")
            .collect();
        assert_eq!(
            got, want,
            "[notify.NAME] with type = \"{ty}\": the key table (left) against its settings (right)"
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
