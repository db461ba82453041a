//! Shell completions driven through each shell's own completion machinery: bash
//! (bash-completion sourced, COMP_WORDS/COMP_CWORD/COMP_LINE/COMP_POINT set, the
//! registered function called, COMPREPLY read), zsh (an interactive zsh on a pseudo
//! terminal via zpty, compinit, a TAB, the candidates captured from `compadd`) and
//! fish (`complete -C`). Every subcommand's options (read from its `--help`, so a new
//! flag is covered without touching this file) and the values clap knows must be
//! offered. A missing shell fails under CI (`CI=true`) and is skipped elsewhere.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use rstest::rstest;

use crate::util::{self, stdout, subcommands, TestEnv};

const BASH_COMPLETION: &str = "/usr/share/bash-completion/bash_completion";

/// Calls the function `complete -p restic-verify` names, as bash does on TAB at the
/// end of the line `$2`, and prints COMPREPLY one per line.
const BASH_DRIVER: &str = r#"
source "$0" || exit 3
source "$1" || exit 3
COMP_LINE=$2
COMP_POINT=${#COMP_LINE}
read -ra COMP_WORDS <<<"$COMP_LINE"
[[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
f=$(complete -p restic-verify | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
[ -n "$f" ] || { echo "restic-verify has no completion function" >&2; exit 3; }
"$f" restic-verify "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"#;

/// Starts an interactive zsh on a pseudo terminal with `$1` in fpath and compinit,
/// types `$2` and TAB, and prints every candidate `compadd` is given, one per line,
/// after `<<C>>`. The markers are split in the typed text (`"<<""C>>"`), so the
/// terminal's echo of the setup never matches them.
const ZSH_DRIVER: &str = r#"
zmodload zsh/zpty || exit 3
zpty z zsh -f -i
zpty -w z "fpath=(${(q)1} \$fpath)"
zpty -w z 'PROMPT= RPROMPT='
zpty -w z 'autoload -U compinit && compinit -u -D'
zpty -w z "zstyle ':completion:*' list-grouped false"
zpty -w z "zstyle ':completion:*' insert-tab false"
zpty -w z 'compprefuncs=( __nolist ); __nolist() { compstate[list]= }'
zpty -w z 'comppostfuncs=( __done ); __done() { print -r -- "<<""END>>"; exit }'
zpty -w z 'compadd() {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return $?; fi
  typeset -a __hits
  builtin compadd -A __hits "$@"
  local h; for h in $__hits; do print -r -- "<<""C>>$h"; done
}'
zpty -w z "bindkey '^I' complete-word"
zpty -w z 'print -r -- "<<""READY>>"'
zpty -r z line '*<<READY>>*' || exit 3
zpty -w -n z "$2"$'\t'
while zpty -r z line; do
  [[ $line == *'<<END>>'* ]] && break
  [[ $line == *'<<C>>'* ]] && print -r -- "${${line##*<<C>>}%%$'\r'}"
done
zpty -d z
"#;

#[derive(Debug, Clone, Copy)]
enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl Shell {
    fn name(self) -> &'static str {
        match self {
            Shell::Bash => "bash",
            Shell::Zsh => "zsh",
            Shell::Fish => "fish",
        }
    }
}

/// The generated script installed where the shell looks for it, or `None` when the
/// shell is missing outside CI (the test is then skipped).
struct Installed {
    shell: Shell,
    env: TestEnv,
    /// bash and fish: the script; zsh: the fpath directory holding `_restic-verify`.
    at: PathBuf,
}

fn install(shell: Shell) -> Option<Installed> {
    let present = std::process::Command::new(shell.name())
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        && (!matches!(shell, Shell::Bash) || Path::new(BASH_COMPLETION).is_file());
    if !present {
        let package = match shell {
            Shell::Bash => "bash-completion",
            Shell::Zsh => "zsh",
            Shell::Fish => "fish",
        };
        assert!(
            !util::ci(),
            "{} completion cannot be tested: install Debian's `{package}` (scripts/setup.sh does)",
            shell.name()
        );
        eprintln!(
            "skipping the {} completion test: not installed",
            shell.name()
        );
        return None;
    }
    let env = TestEnv::new();
    let text = stdout(&env, &["completions", shell.name()]);
    let at = match shell {
        Shell::Bash => env.path("restic-verify.bash"),
        Shell::Zsh => env.path("zsh-functions"),
        Shell::Fish => env.path("restic-verify.fish"),
    };
    match shell {
        Shell::Zsh => {
            std::fs::create_dir_all(&at).expect("mkdir");
            std::fs::write(at.join("_restic-verify"), text).expect("write");
        }
        Shell::Bash | Shell::Fish => std::fs::write(&at, text).expect("write"),
    }
    Some(Installed { shell, env, at })
}

impl Installed {
    /// The candidates the shell offers for TAB at the end of `line`.
    fn complete(&self, line: &str) -> Vec<String> {
        let mut c = match self.shell {
            Shell::Bash => {
                let mut c = Command::new("bash");
                c.args(["--norc", "--noprofile", "-c", BASH_DRIVER, BASH_COMPLETION]);
                c
            }
            Shell::Zsh => {
                let mut c = Command::new("zsh");
                c.args(["-f", "-c", ZSH_DRIVER, "zsh"]);
                c
            }
            Shell::Fish => {
                let mut c = Command::new("fish");
                c.args([
                    "--no-config",
                    "-c",
                    "source $argv[1]; and complete -C $argv[2]",
                ]);
                c
            }
        };
        c.arg(&self.at)
            .arg(line)
            .env("HOME", self.env.path(""))
            .env("XDG_CONFIG_HOME", self.env.path("xdg-config"))
            .env("XDG_DATA_HOME", self.env.path("xdg-data"))
            .current_dir(self.env.path(""))
            .timeout(std::time::Duration::from_secs(120));
        let out = c.output().expect("shell");
        assert!(
            out.status.success(),
            "{} completing {line:?}: {}",
            self.shell.name(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            // fish prints `candidate<TAB>description`.
            .map(|l| l.split('\t').next().unwrap_or_default().trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect()
    }
}

/// The long options `restic-verify <sub> --help` lists.
fn long_options(env: &TestEnv, sub: &str) -> Vec<String> {
    let text = stdout(env, &[sub, "--help"]);
    let longs: Vec<String> = text
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| {
            let from = l.find("--")?;
            let name: String = l[from..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            Some(name)
        })
        .collect();
    assert!(longs.contains(&"--help".to_owned()), "{sub}: {longs:?}");
    longs
}

// See: issue #24 (bash completed subcommand names only).
#[rstest]
fn completions_offer_every_option_of_every_subcommand(
    #[values(Shell::Bash, Shell::Zsh, Shell::Fish)] shell: Shell,
) {
    let Some(sh) = install(shell) else { return };
    let subs = subcommands(&sh.env);
    let offered = sh.complete("restic-verify ");
    for sub in &subs {
        assert!(offered.contains(sub), "{sub} not offered: {offered:?}");
    }
    for sub in &subs {
        let offered = sh.complete(&format!("restic-verify {sub} --"));
        let missing: Vec<_> = long_options(&sh.env, sub)
            .into_iter()
            .filter(|o| !offered.contains(o))
            .collect();
        assert!(
            missing.is_empty(),
            "{}: `restic-verify {sub} --<TAB>` lacks {missing:?}; offered {offered:?}",
            shell.name()
        );
    }
}

#[rstest]
fn completions_offer_the_values_clap_knows(
    #[values(Shell::Bash, Shell::Zsh, Shell::Fish)] shell: Shell,
) {
    let Some(sh) = install(shell) else { return };
    std::fs::write(sh.env.path("profile.toml"), "").expect("write");
    let cases: Vec<(String, &[&str])> = vec![
        ("restic-verify --log-format ".into(), &["text", "json"]),
        (
            "restic-verify status --log-format ".into(),
            &["text", "json"],
        ),
        (
            "restic-verify completions ".into(),
            &["bash", "zsh", "fish"],
        ),
        (
            "restic-verify status --color ".into(),
            &["auto", "always", "never"],
        ),
        (
            "restic-verify restore-test --sample-b".into(),
            &["--sample-by"],
        ),
        ("restic-verify st".into(), &["status"]),
    ];
    for (line, want) in cases {
        let offered = sh.complete(&line);
        for w in want {
            assert!(
                offered.iter().any(|o| o == w),
                "{}: `{line}<TAB>` lacks {w}: {offered:?}",
                shell.name()
            );
        }
    }
    // File paths: zsh offers the last component, bash and fish the whole path.
    let line = format!(
        "restic-verify run --config {}",
        sh.env.path("prof").display()
    );
    let offered = sh.complete(&line);
    assert!(
        offered.iter().any(|o| o.ends_with("profile.toml")),
        "{}: `{line}<TAB>` lacks profile.toml: {offered:?}",
        shell.name()
    );
}

#[test]
fn completions_bash_script_is_valid_and_an_unknown_shell_is_a_usage_error() {
    let env = TestEnv::new();
    let script = env.path("restic-verify.bash");
    std::fs::write(&script, stdout(&env, &["completions", "bash"])).expect("write");
    let out = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = env
        .cmd()
        .args(["completions", "tcsh"])
        .output()
        .expect("run");
    util::assert_exit(&bad, 2);
}
