//! Replays the fuzz seed corpus and every input the fuzzers ever crashed on
//! (fuzz/corpus/<target>/, fuzz/regressions/<target>/) through the same
//! property checks the fuzz targets run, so `cargo test` keeps them fixed
//! without nightly or libFuzzer. See docs/evidence.md. The quoting
//! round trips also run over proptest's strings here, against the same
//! reference un-quoters.

#[path = "../../../fuzz/checks/replay.rs"]
mod replay;
use proptest::prelude::*;
use replay::replay;
use sv_core::quote::{fish_quote, powershell_quote, sh_quote};

#[path = "../../../fuzz/checks/quote.rs"]
mod quote;
#[allow(dead_code)]
#[path = "../../../fuzz/checks/scope.rs"]
mod scope;

#[test]
fn quote_inputs_round_trip() {
    replay("quote", quote::check);
}

#[test]
fn scope_inputs_agree() {
    replay("scope", scope::check);
}

proptest! {
    #[test]
    fn sh_round_trips(s in any::<String>()) {
        prop_assert_eq!(quote::sh_unquote(&sh_quote(&s)), Some(s));
    }

    #[test]
    fn fish_round_trips(s in any::<String>()) {
        prop_assert_eq!(quote::fish_unquote(&fish_quote(&s)), Some(s));
    }

    #[test]
    fn powershell_round_trips(s in any::<String>()) {
        prop_assert_eq!(quote::powershell_unquote(&powershell_quote(&s)), Some(s));
    }

    #[test]
    fn shell_metacharacters_round_trip(s in "[ -~\n\t'\"\\\\$`!;|&(){}<>*?\u{2018}\u{2019}]{0,40}") {
        prop_assert_eq!(quote::sh_unquote(&sh_quote(&s)), Some(s.clone()));
        prop_assert_eq!(quote::fish_unquote(&fish_quote(&s)), Some(s.clone()));
        prop_assert_eq!(quote::powershell_unquote(&powershell_quote(&s)), Some(s));
    }
}
