//! `session-vault integrate codex --proxy` (docs/design.md §10): Codex
//! 0.17x ignores `OPENAI_BASE_URL` and reads its provider from
//! `$CODEX_HOME/config.toml` (default `~/.codex/config.toml`), so that file
//! gets
//!
//! ```toml
//! model_provider = "session-vault"
//!
//! [model_providers.session-vault]
//! name = "OpenAI through session-vault"
//! base_url = "http://127.0.0.1:PORT/t/codex/v1"
//! env_key = "CODEX_API_KEY"
//! wire_api = "responses"
//! ```
//!
//! and the shell hook launches `codex` through `exec --proxy`, which puts
//! the stand-in in `CODEX_API_KEY` (see `crate::wrappers`).
//!
//! The file is edited as TOML with `toml_edit`: every other key, comment
//! and the user's layout stay as they were; a file that does not parse is
//! refused and left untouched. The rest is as for the JSON settings
//! (docs/design.md §12): a private backup first, the write anchored on the
//! file's opened directory and done only while the file still holds what
//! was read. `--undo` gives back the backup's bytes when the file is still
//! exactly what `integrate` wrote, and otherwise removes only what it added
//! (or puts back the values it replaced).

use super::edit::{self, Backup};
use crate::error::{CliError, Result};
use std::path::{Path, PathBuf};
use toml_edit::{DocumentMut, InlineTable, Item, Table, TableLike, Value};

/// The provider's id in `model_providers`, and `model_provider`'s value.
const PROVIDER: &str = "session-vault";
/// The variable the provider reads its key from; `exec --proxy --tool
/// codex` sets it to the stand-in.
pub(super) const KEY_VAR: &str = "CODEX_API_KEY";

const MODEL_PROVIDER: &str = "model_provider";
const PROVIDERS: &str = "model_providers";

/// The provider's keys and values for a proxy at `base_url`.
fn provider_keys(base_url: &str) -> [(&'static str, String); 4] {
    [
        ("name", "OpenAI through session-vault".to_owned()),
        ("base_url", base_url.to_owned()),
        ("env_key", KEY_VAR.to_owned()),
        ("wire_api", "responses".to_owned()),
    ]
}

/// Codex's config file: `$CODEX_HOME/config.toml`, else `~/.codex/config.toml`.
pub(super) fn config_path() -> Result<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(home) = var("CODEX_HOME") {
        return Ok(PathBuf::from(home).join("config.toml"));
    }
    let home = var("HOME")
        .ok_or_else(|| CliError::Usage("HOME is not set; set it (or CODEX_HOME)".into()))?;
    Ok(PathBuf::from(home).join(".codex/config.toml"))
}

/// Parses the file, or says where it is broken (never quoting it: a
/// provider may hold a bearer token).
fn parse(shown: &Path, bytes: &[u8]) -> Result<DocumentMut> {
    let text = std::str::from_utf8(bytes).map_err(|_| {
        CliError::Failed(format!(
            "{} is not UTF-8 text; nothing was changed: fix the file, then run this again",
            shown.display()
        ))
    })?;
    text.parse::<DocumentMut>().map_err(|e| {
        let at = e.span().map(|s| s.start).unwrap_or(0).min(text.len());
        let before = &text.as_bytes()[..at];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = at - before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) + 1;
        CliError::Failed(format!(
            "{} is not valid TOML (line {line}, column {column}); nothing was changed: fix the file, then run this again",
            shown.display()
        ))
    })
}

fn str_at<'d>(t: &'d dyn TableLike, key: &str) -> Option<&'d str> {
    t.get(key)?.as_str()
}

fn provider(doc: &DocumentMut) -> Option<&dyn TableLike> {
    doc.get(PROVIDERS)?
        .as_table_like()?
        .get(PROVIDER)?
        .as_table_like()
}

/// Whether `doc` already uses the proxy's provider at `base_url`.
fn is_set_up(doc: &DocumentMut, base_url: &str) -> bool {
    str_at(doc.as_table(), MODEL_PROVIDER) == Some(PROVIDER)
        && provider(doc).is_some_and(|p| {
            provider_keys(base_url)
                .iter()
                .all(|(k, v)| str_at(p, k) == Some(v.as_str()))
        })
}

/// Sets `slot` to the string `v`, keeping the comments and spacing around
/// the value it had.
fn set_str(slot: Option<&mut Item>, v: &str) -> Option<Item> {
    match slot {
        Some(Item::Value(old)) => {
            let decor = old.decor().clone();
            *old = Value::from(v);
            *old.decor_mut() = decor;
            None
        }
        _ => Some(toml_edit::value(v)),
    }
}

fn set_key(t: &mut dyn TableLike, key: &str, v: &str) {
    if let Some(item) = set_str(t.get_mut(key), v) {
        t.insert(key, item);
    }
}

/// Points `doc` at the proxy's provider; refuses a `model_providers` (or
/// its `session-vault` entry) that is not a table.
fn apply(doc: &mut DocumentMut, base_url: &str) -> std::result::Result<(), String> {
    let not_table = |what: &str| format!("it has {what} but not as a table");
    let providers = doc.entry(PROVIDERS).or_insert_with(|| {
        let mut t = Table::new();
        t.set_implicit(true);
        Item::Table(t)
    });
    let inline = providers.is_inline_table();
    let providers = providers
        .as_table_like_mut()
        .ok_or_else(|| not_table(PROVIDERS))?;
    if providers.get(PROVIDER).is_none() {
        let entry = if inline {
            Item::Value(Value::InlineTable(InlineTable::new()))
        } else {
            let mut t = Table::new();
            t.decor_mut().set_prefix("\n");
            Item::Table(t)
        };
        providers.insert(PROVIDER, entry);
    }
    let entry = providers
        .get_mut(PROVIDER)
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| not_table("model_providers.session-vault"))?;
    for (k, v) in provider_keys(base_url) {
        set_key(entry, k, &v);
    }
    set_key(doc.as_table_mut(), MODEL_PROVIDER, PROVIDER);
    Ok(())
}

/// Takes out what [`apply`] set: `model_provider` and the provider entry
/// get their values in `before` back (they are removed when it had none),
/// and a `model_providers` table left empty goes if `before` had none.
/// A `model_provider` the user changed since is left alone.
fn restore(doc: &mut DocumentMut, before: Option<&DocumentMut>) {
    if str_at(doc.as_table(), MODEL_PROVIDER) == Some(PROVIDER) {
        match before.and_then(|b| b.get(MODEL_PROVIDER)) {
            Some(old) => {
                doc.insert(MODEL_PROVIDER, old.clone());
            }
            None => {
                doc.remove(MODEL_PROVIDER);
            }
        }
    }
    let before_providers = before
        .and_then(|b| b.get(PROVIDERS))
        .and_then(Item::as_table_like);
    let Some(providers) = doc.get_mut(PROVIDERS).and_then(Item::as_table_like_mut) else {
        return;
    };
    match before_providers.and_then(|p| p.get(PROVIDER)) {
        Some(old) => {
            providers.insert(PROVIDER, old.clone());
        }
        None => {
            providers.remove(PROVIDER);
        }
    }
    if providers.is_empty() && before_providers.is_none() {
        doc.remove(PROVIDERS);
    }
}

/// `integrate codex --proxy`.
pub(super) fn integrate(shown: &Path, target: &Path) -> Result {
    let current = edit::read(shown, target)?;
    let mut doc = match &current {
        Some(bytes) => parse(shown, bytes)?,
        None => DocumentMut::new(),
    };
    let base_url = format!("http://{}/t/codex/v1", edit::proxy_addr()?);
    if is_set_up(&doc, &base_url) {
        println!(
            "{} is already set up for session-vault; nothing changed.",
            shown.display()
        );
        return Ok(());
    }
    edit::refuse_if_changed(shown, target)?;
    apply(&mut doc, &base_url).map_err(|why| {
        CliError::Failed(format!(
            "{}: {why}; nothing was changed: fix the file, then run this again",
            shown.display()
        ))
    })?;
    let backup = edit::save_backup(target, current.as_deref())?;
    edit::write(
        shown,
        target,
        current.as_deref(),
        doc.to_string().as_bytes(),
    )?;
    println!(
        "Set model_provider = \"{PROVIDER}\" and [model_providers.{PROVIDER}] (base_url = \"{base_url}\", env_key = \"{KEY_VAR}\") in {}.",
        shown.display()
    );
    println!("(backup: {})", backup.display());
    if let Some(p) = active_profile_provider(&doc) {
        eprintln!(
            "warning: the profile {p} that {} selects names its own model_provider, which wins over this one: remove it there, or launch Codex with another profile",
            shown.display()
        );
    }
    Ok(())
}

/// The active profile (`profile = "x"`) when it sets its own provider.
fn active_profile_provider(doc: &DocumentMut) -> Option<String> {
    let name = str_at(doc.as_table(), "profile")?;
    let p = doc.get("profiles")?.as_table_like()?.get(name)?;
    let own = p.as_table_like()?.get(MODEL_PROVIDER)?.as_str()?;
    (own != PROVIDER).then(|| format!("\"{name}\""))
}

/// `integrate codex --undo`.
pub(super) fn undo(shown: &Path, target: &Path) -> Result {
    let Some(current) = edit::read(shown, target)? else {
        println!("{} does not exist; nothing to undo.", shown.display());
        return Ok(());
    };
    let mut doc = parse(shown, &current)?;
    let backup = Backup::latest(target)?;
    if backup.is_none() && str_at(doc.as_table(), MODEL_PROVIDER) != Some(PROVIDER) {
        println!(
            "{} holds no setting of session-vault's; nothing to undo.",
            shown.display()
        );
        return Ok(());
    }
    let before: Option<DocumentMut> = backup
        .as_ref()
        .and_then(|b| std::str::from_utf8(&b.bytes).ok())
        .and_then(|t| t.parse().ok());
    // Still exactly what `integrate` wrote over the backup: the backup's
    // bytes come back (or no file, when there was none). Otherwise
    // something else changed since, and only its keys are given back.
    let base_url = provider(&doc).and_then(|p| str_at(p, "base_url").map(str::to_owned));
    let untouched = match (&backup, &base_url) {
        (Some(b), Some(url)) => {
            let again = match &before {
                Some(d) => Some(d.clone()),
                None if b.bytes.is_empty() => Some(DocumentMut::new()),
                None => None,
            };
            again.is_some_and(|mut again| {
                apply(&mut again, url).is_ok() && again.to_string().as_bytes() == current.as_slice()
            })
        }
        _ => false,
    };
    match &backup {
        Some(b) if untouched => edit::put_back(shown, target, &current, &b.bytes)?,
        _ => {
            restore(&mut doc, before.as_ref());
            edit::write(shown, target, Some(&current), doc.to_string().as_bytes())?;
        }
    }
    if let Some(b) = backup {
        b.forget();
    }
    println!("Removed session-vault's provider from {}.", shown.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://127.0.0.1:4000/t/codex/v1";

    fn doc(s: &str) -> DocumentMut {
        s.parse().unwrap()
    }

    #[test]
    fn apply_keeps_comments_and_layout_and_restore_takes_it_out() {
        let text = "# my codex\nmodel = \"gpt-5\"   # the best\n\n[tui]\nnotifications = true\n";
        let mut d = doc(text);
        apply(&mut d, URL).unwrap();
        let out = d.to_string();
        assert!(
            out.starts_with(
                "# my codex\nmodel = \"gpt-5\"   # the best\nmodel_provider = \"session-vault\"\n"
            ),
            "{out}"
        );
        assert!(
            out.ends_with("[tui]\nnotifications = true\n\n[model_providers.session-vault]\nname = \"OpenAI through session-vault\"\nbase_url = \"http://127.0.0.1:4000/t/codex/v1\"\nenv_key = \"CODEX_API_KEY\"\nwire_api = \"responses\"\n"),
            "{out}"
        );
        assert!(is_set_up(&doc(&out), URL));
        let mut back = doc(&out);
        restore(&mut back, Some(&doc(text)));
        assert!(!back.to_string().contains("session-vault"));
        assert!(back.to_string().contains("# the best"));
    }

    #[test]
    fn a_replaced_provider_comes_back_and_others_stay() {
        let text = "model_provider = \"openai\" # was\n\n[model_providers.other]\nname = \"o\"\n";
        let mut d = doc(text);
        apply(&mut d, URL).unwrap();
        let out = d.to_string();
        assert!(
            out.contains("model_provider = \"session-vault\" # was"),
            "{out}"
        );
        let mut back = doc(&out);
        restore(&mut back, Some(&doc(text)));
        assert_eq!(back.to_string(), text);
    }

    #[test]
    fn inline_providers_and_non_tables() {
        let mut d = doc("model_providers = { x = { name = \"x\" } }\n");
        apply(&mut d, URL).unwrap();
        assert!(is_set_up(&d, URL), "{d}");
        let mut d = doc("model_providers = 3\n");
        assert!(apply(&mut d, URL).is_err());
    }

    #[test]
    fn parse_errors_name_the_place_not_the_text() {
        let e = parse(Path::new("c.toml"), b"a = 1\nb = \"sk-secret")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
        assert!(!e.contains("sk-secret"), "{e}");
    }
}
