//! Shards: splitting one profile's repositories across hosts (`shard = "k/n"` in
//! `[defaults]`, `--shard k/n` on `run`, `daemon` and `validate`). Pure: parsing
//! `k/n`, the hash that places a repository, and the restriction of a checked
//! `Profile` to one shard (`Profile::for_shard`). Nothing here reads or writes.
//!
//! The placement function is part of the interface and must never change between
//! versions (hosts of one fleet may run different versions during an upgrade, and a
//! changed function would run some repositories twice and others never):
//!
//! ```text
//! key   = first 8 bytes of SHA-256(repository name as written in the profile, UTF-8), big-endian u64
//! shard = jump_consistent_hash(key, n) + 1          (Lamping & Veach, 2014)
//! ```
//!
//! The name, not the URL: a URL may carry credentials and changes when a repository
//! moves; the name is what the operator chose. A repository's shard depends on its
//! name and `n` only, so adding or removing a repository moves no other one, and
//! going from `n` to `n + 1` hosts moves only about `1/(n + 1)` of them (all to the
//! new shard): that is why a jump hash and not `key % n`.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// One shard of `n`: this host takes the repositories placed in shard `k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based: `1..=n`.
    pub k: u32,
    /// How many shards (hosts) share the profile; at least 1.
    pub n: u32,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

impl FromStr for Shard {
    type Err = String;

    /// Parses `k/n` (`1 <= k <= n`). The message names neither key nor flag: the
    /// caller adds which one.
    fn from_str(s: &str) -> Result<Shard, String> {
        let form = "write it as k/n with n the number of hosts (at least 1) and k this host's shard in 1..=n, e.g. 2/3";
        let (k, n) = s
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not k/n; {form}"))?;
        let parse = |x: &str, what: &str| {
            x.trim()
                .parse::<u32>()
                .map_err(|_| format!("`{s}`: {what} `{x}` is not a whole number; {form}"))
        };
        let (k, n) = (parse(k, "k")?, parse(n, "n")?);
        if n == 0 {
            return Err(format!("`{s}`: n must be at least 1; {form}"));
        }
        if k == 0 || k > n {
            return Err(format!("`{s}`: k must be in 1..={n}; {form}"));
        }
        Ok(Shard { k, n })
    }
}

impl Shard {
    /// Whether this shard takes the repository called `name`.
    pub fn takes(&self, name: &str) -> bool {
        place(name, self.n) == self.k
    }
}

/// The shard (1-based, `1..=n`) of the repository called `name` among `n`; `n = 0`
/// is treated as 1.
pub fn place(name: &str, n: u32) -> u32 {
    let digest = Sha256::digest(name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    jump(u64::from_be_bytes(first), n.max(1)) + 1
}

/// Jump consistent hash (Lamping & Veach, "A Fast, Minimal Memory, Consistent Hash
/// Algorithm", 2014): the bucket `0..n` of `key`, as their reference code computes
/// it (IEEE doubles, so the same on every platform).
fn jump(mut key: u64, n: u32) -> u32 {
    let (mut b, mut j): (i64, i64) = (-1, 0);
    while j < i64::from(n) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        // Exact: both operands below 2^53.
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
        {
            j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
        }
    }
    // INVARIANT: 0 <= b < n <= u32::MAX (n >= 1, so the loop ran at least once).
    u32::try_from(b).unwrap_or(0)
}

/// The repositories of every shard `1..=n`, each list in the order given.
pub fn split<'a>(names: impl IntoIterator<Item = &'a str>, n: u32) -> Vec<Vec<&'a str>> {
    let mut out = vec![Vec::new(); n.max(1) as usize];
    for name in names {
        out[(place(name, n) - 1) as usize].push(name);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use crate::config::Profile;

    use proptest::prelude::*;
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case("1/1", 1, 1)]
    #[case("2/3", 2, 3)]
    #[case(" 3/3 ", 3, 3)]
    #[case("7/10", 7, 10)]
    fn shard_parses_k_of_n(#[case] s: &str, #[case] k: u32, #[case] n: u32) {
        assert_eq!(s.parse::<Shard>(), Ok(Shard { k, n }));
    }

    #[rstest]
    #[case("0/3", "k must be in 1..=3")]
    #[case("4/3", "k must be in 1..=3")]
    #[case("1/0", "n must be at least 1")]
    #[case("3", "is not k/n")]
    #[case("a/3", "k `a` is not a whole number")]
    #[case("1/-2", "n `-2` is not a whole number")]
    fn shard_out_of_range_or_malformed_is_refused_with_the_range(
        #[case] s: &str,
        #[case] want: &str,
    ) {
        let e = s.parse::<Shard>().unwrap_err();
        assert!(e.contains(want) && e.contains("1..=n"), "{e}");
    }

    /// The function is part of the interface: these placements must never change
    /// (computed by the Python transcription too: SHA-256, big-endian, jump).
    #[rstest]
    #[case("nas", 1, 1)]
    #[case("nas", 2, 1)]
    #[case("nas", 7, 4)]
    #[case("offsite", 3, 3)]
    #[case("repo-042", 5, 1)]
    #[case("b2-photos", 16, 15)]
    fn place_is_pinned(#[case] name: &str, #[case] n: u32, #[case] want: u32) {
        assert_eq!(place(name, n), want);
    }

    #[test]
    fn jump_matches_the_reference_implementation() {
        // Computed by a separate transcription of the paper's code (Python, whose
        // floats are the same IEEE doubles).
        assert_eq!(jump(0, 1), 0);
        assert_eq!(jump(0, 100), 0);
        assert_eq!(jump(1, 100), 55);
        assert_eq!(jump(0xDEAD_BEEF, 1000), 285);
    }

    fn profile(shard: &str) -> Result<Profile, crate::config::Error> {
        let text = format!(
            "[defaults]\npassword-file = \"/run/pw\"\n{shard}\n\n\
             [repository.nas]\nurl = \"/srv/nas\"\n\n\
             [repository.offsite]\nurl = \"/srv/offsite\"\n\n\
             [repository.b2-photos]\nurl = \"/srv/b2\"\n\n\
             [job.weekly]\nkind = \"check\"\nrepositories = [\"nas\", \"offsite\", \"b2-photos\"]\n\n\
             [job.photos]\nkind = \"check\"\nrepositories = [\"b2-photos\"]\n"
        );
        let env = crate::config::Env {
            credentials_directory: None,
            host: "testhost".into(),
            now: chrono::Local::now(),
        };
        crate::config::parse(&text, std::path::Path::new("/etc/rv.toml"), &env)
    }

    #[test]
    fn shard_key_in_defaults_is_parsed() {
        let p = profile("shard = \"2/3\"").expect("valid");
        assert_eq!(p.shard, Some(Shard { k: 2, n: 3 }));
        assert_eq!(profile("").expect("valid").shard, None);
    }

    #[rstest]
    #[case("shard = \"4/3\"", "k must be in 1..=3")]
    #[case("shard = \"1/0\"", "n must be at least 1")]
    #[case("shard = \"half\"", "is not k/n")]
    fn shard_key_out_of_range_is_a_located_config_error(#[case] line: &str, #[case] want: &str) {
        let Err(crate::config::Error::Invalid { problems, .. }) = profile(line) else {
            panic!("{line} was accepted");
        };
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(
            text.iter().any(|m| m.starts_with("/etc/rv.toml:3:")
                && m.contains("[defaults] `shard`")
                && m.contains(want)),
            "{text:?}"
        );
    }

    #[test]
    fn restrict_keeps_the_shards_repositories_and_drops_jobs_left_without_any() {
        let p = profile("").expect("valid");
        // Of 3: b2-photos is in shard 1, nas and offsite in 3, shard 2 is empty.
        assert_eq!(
            ["b2-photos", "nas", "offsite"].map(|n| place(n, 3)),
            [1, 3, 3]
        );
        for k in 1..=3 {
            let shard = Shard { k, n: 3 };
            let r = p.for_shard(Some(shard));
            let want: Vec<&str> = ["b2-photos", "nas", "offsite"]
                .into_iter()
                .filter(|n| place(n, 3) == k)
                .collect();
            assert_eq!(
                r.repositories
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
                want
            );
            for job in &r.jobs {
                assert!(
                    !job.repositories.is_empty(),
                    "{} kept with no repository",
                    job.name
                );
                assert!(job.repositories.iter().all(|n| place(n, 3) == k));
            }
            assert_eq!(
                r.job("photos").is_some(),
                place("b2-photos", 3) == k,
                "photos runs only where b2-photos is"
            );
        }
        assert_eq!(p.for_shard(None).repositories.len(), 3);
    }

    proptest! {
        #[test]
        fn split_covers_every_name_exactly_once(
            names in proptest::collection::btree_set("[a-z0-9-]{1,12}", 0..60),
            n in 1u32..12,
        ) {
            let shards = split(names.iter().map(String::as_str), n);
            prop_assert_eq!(shards.len(), n as usize);
            let mut seen = BTreeSet::new();
            for (i, names_of) in shards.iter().enumerate() {
                for name in names_of {
                    prop_assert!(seen.insert(*name), "{} twice", name);
                    let k = u32::try_from(i).unwrap() + 1;
                    let shard = Shard { k, n };
                    prop_assert!(shard.takes(name), "{} not in {}", name, shard);
                }
            }
            prop_assert_eq!(seen.len(), names.len());
        }

        #[test]
        fn growing_n_moves_names_only_to_the_new_shard(name in "[a-z0-9-]{1,16}", n in 1u32..64) {
            let (before, after) = (place(&name, n), place(&name, n + 1));
            prop_assert!(after == before || after == n + 1);
        }
    }
}
