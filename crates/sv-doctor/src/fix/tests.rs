//! `--fix` on fixture homes and projects, with an in-memory vault.

use super::*;
use crate::formats::samples::*;
use crate::lines::Dialect;
use crate::scan::{scan_all, Inputs};
use crate::{Detector, Report, SourceKind};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use sv_core::ToolTable;

struct MemVault {
    stored: Vec<StoreRequest>,
    refuse: bool,
}

impl VaultSink for MemVault {
    fn store(&mut self, req: &StoreRequest) -> Result<String, VaultRefusal> {
        if self.refuse {
            return Err(VaultRefusal {
                message: "the vault is locked".into(),
                fatal: true,
            });
        }
        self.stored.push(req.clone());
        Ok(format!("id-{}", self.stored.len()))
    }
}

fn inputs(home: &Path, cwd: &Path) -> Inputs {
    Inputs {
        home: home.to_owned(),
        config_home: home.join(".config"),
        codex_home: home.join(".codex"),
        cwd: cwd.to_owned(),
        recursive: false,
        detector: Detector::new(ToolTable::builtin()),
        env: Vec::new(),
    }
}

fn opts() -> FixOptions {
    FixOptions {
        home_project: None,
        config_file: PathBuf::from("/cfg/config.toml"),
        timestamp: utc_stamp(0),
    }
}

/// Backups under a data directory of the fixture's own.
fn backups(root: &Path) -> sv_fs::Backups {
    sv_fs::Backups::new(root.join("data/backups"), &utc_stamp(0))
}

fn report(inp: &Inputs) -> Report {
    let (checks, sources) = scan_all(inp);
    Report::new(checks, sources)
}

#[test]
fn stamps() {
    assert_eq!(utc_stamp(0), "19700101T000000Z");
    assert_eq!(utc_stamp(1_795_906_800), "20261128T230000Z");
}

#[test]
fn fixes_every_kind_and_is_idempotent() {
    let d = tempfile::tempdir().unwrap();
    let home = d.path().join("home");
    let proj = d.path().join("proj");
    std::fs::create_dir_all(home.join(".claude")).unwrap();
    std::fs::create_dir_all(home.join(".codex")).unwrap();
    std::fs::create_dir_all(proj.join(".claude")).unwrap();
    let a = anthropic(1);
    let o = openai_proj(2);
    let g = google(3);
    let unknown = groq(4);
    std::fs::write(
        home.join(".bashrc"),
        format!("alias ll='ls -l'\r\nexport ANTHROPIC_API_KEY={a}\r\nexport MY_GROQ={unknown}\r\n"),
    )
    .unwrap();
    std::fs::set_permissions(home.join(".bashrc"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::write(
        proj.join(".env"),
        format!("DEBUG=1\nOPENAI_API_KEY=\"{o}\"\nGEMINI_API_KEY={g}"),
    )
    .unwrap();
    std::fs::write(
        proj.join(".claude/settings.json"),
        format!("{{\n  \"model\": \"x\",\n  \"env\": {{\"ANTHROPIC_API_KEY\": \"{a}\"}}\n}}\n"),
    )
    .unwrap();
    std::fs::write(
        proj.join(".mcp.json"),
        format!("{{\"mcpServers\": {{\"s\": {{\"command\": \"npx\", \"args\": [\"-y\", \"srv\"], \"env\": {{\"OPENAI_API_KEY\": \"{o}\", \"GEMINI_API_KEY\": \"{g}\", \"PORT\": \"1\"}}}}}}}}"),
    )
    .unwrap();
    std::fs::write(
        home.join(".codex/auth.json"),
        format!("{{\"OPENAI_API_KEY\": \"{o}\", \"tokens\": null}}"),
    )
    .unwrap();
    let inp = inputs(&home, &proj);
    let r = report(&inp);
    let p = plan(&r, &inp.detector, &opts());
    assert_eq!(p.files.len(), 5, "{:?}", p.skips);
    assert_eq!(p.skips.len(), 1);
    assert!(p.skips[0].reason.contains("no tool uses MY_GROQ"));
    let mut vault = MemVault {
        stored: Vec::new(),
        refuse: false,
    };
    let outcomes = apply(&p, &mut vault, &backups(d.path()));
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Outcome::Applied { .. })),
        "{outcomes:?}"
    );
    assert_eq!(vault.stored.len(), 7);
    let canon_proj = proj.canonicalize().unwrap();
    let env_store = vault
        .stored
        .iter()
        .find(|s| s.label.contains(".env"))
        .unwrap();
    assert_eq!(env_store.project.as_deref(), Some(canon_proj.as_path()));
    let bash_store = vault
        .stored
        .iter()
        .find(|s| s.label.contains(".bashrc"))
        .unwrap();
    assert_eq!(
        (bash_store.tool.as_str(), bash_store.project.as_ref()),
        ("claude", None)
    );
    assert_eq!(bash_store.values[0].1.expose(), a);

    let bashrc = std::fs::read_to_string(home.join(".bashrc")).unwrap();
    assert!(bashrc.starts_with("alias ll='ls -l'\r\n# session-vault doctor --fix"));
    assert!(bashrc.contains(&unknown) && !bashrc.contains(&a));
    assert_eq!(
        std::fs::metadata(home.join(".bashrc"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o640
    );
    // The backup is private, in the data directory, never beside the file.
    let backup = d
        .path()
        .join(format!("data/backups/{}-.bashrc", utc_stamp(0)));
    assert!(outcomes
        .iter()
        .any(|o| matches!(o, Outcome::Applied { backup: b, .. } if *b == backup)));
    assert!(std::fs::read_dir(&home)
        .unwrap()
        .flatten()
        .all(|e| !e.file_name().to_string_lossy().contains("backup")));
    assert!(std::fs::read_to_string(&backup).unwrap().contains(&a));
    assert_eq!(
        std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::read_to_string(proj.join(".env")).unwrap(),
        "DEBUG=1\n"
    );
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(proj.join(".claude/settings.json")).unwrap())
            .unwrap();
    assert_eq!(
        s,
        serde_json::json!({"model": "x", "apiKeyHelper": CLAUDE_HELPER})
    );
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(proj.join(".mcp.json")).unwrap()).unwrap();
    assert_eq!(
        m["mcpServers"]["s"],
        serde_json::json!({"command": "session-vault", "args": ["exec", "--tool", "gemini", "--tool", "codex", "--", "npx", "-y", "srv"], "env": {"PORT": "1"}})
    );
    let c: Value =
        serde_json::from_str(&std::fs::read_to_string(home.join(".codex/auth.json")).unwrap())
            .unwrap();
    assert_eq!(c["OPENAI_API_KEY"], Value::Null);

    // Twice: nothing left to move but the unknown variable.
    let r2 = report(&inp);
    let p2 = plan(&r2, &inp.detector, &opts());
    assert!(p2.files.is_empty());
    assert_eq!(p2.skips.len(), 1);
}

#[test]
fn a_refusing_vault_leaves_every_file_untouched() {
    let d = tempfile::tempdir().unwrap();
    let home = d.path().join("home");
    let proj = d.path().join("proj");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&proj).unwrap();
    let a = anthropic(5);
    std::fs::write(
        home.join(".zshrc"),
        format!("export ANTHROPIC_API_KEY={a}\n"),
    )
    .unwrap();
    std::fs::write(proj.join(".env.local"), format!("ANTHROPIC_API_KEY={a}\n")).unwrap();
    let inp = inputs(&home, &proj);
    let r = report(&inp);
    let p = plan(&r, &inp.detector, &opts());
    assert_eq!(p.files.len(), 2);
    let mut vault = MemVault {
        stored: Vec::new(),
        refuse: true,
    };
    let outcomes = apply(&p, &mut vault, &backups(d.path()));
    assert!(matches!(outcomes[0], Outcome::Refused { .. }));
    assert!(matches!(outcomes[1], Outcome::NotAttempted { .. }));
    assert!(std::fs::read_to_string(home.join(".zshrc"))
        .unwrap()
        .contains(&a));
    assert!(std::fs::read_to_string(proj.join(".env.local"))
        .unwrap()
        .contains(&a));
    assert_eq!(std::fs::read_dir(&home).unwrap().count(), 1);
    assert_eq!(std::fs::read_dir(&proj).unwrap().count(), 1);
}

#[test]
fn a_project_file_leading_out_of_the_project_is_never_rewritten() {
    let d = tempfile::tempdir().unwrap();
    let home = d.path().join("home");
    let proj = d.path().join("proj");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&proj).unwrap();
    let a = anthropic(7);
    std::fs::write(home.join("secrets.env"), format!("ANTHROPIC_API_KEY={a}\n")).unwrap();
    std::os::unix::fs::symlink(home.join("secrets.env"), proj.join(".env")).unwrap();
    let inp = inputs(&home, &proj);
    let p = plan(&report(&inp), &inp.detector, &opts());
    assert!(
        p.files.iter().all(|f| !f.path.ends_with(".env")),
        "the symlinked .env must not be planned for a rewrite"
    );
    assert!(
        p.skips
            .iter()
            .any(|s| s.reason.contains("outside the project")),
        "the finding is reported as skipped"
    );
}

#[test]
fn a_file_changed_after_planning_is_left_alone() {
    let d = tempfile::tempdir().unwrap();
    let a = anthropic(6);
    std::fs::write(
        d.path().join(".profile"),
        format!("export ANTHROPIC_API_KEY={a}\n"),
    )
    .unwrap();
    let inp = inputs(d.path(), d.path());
    let p = plan(&report(&inp), &inp.detector, &opts());
    std::fs::write(
        d.path().join(".profile"),
        format!("export ANTHROPIC_API_KEY={a}\n# edited\n"),
    )
    .unwrap();
    let mut vault = MemVault {
        stored: Vec::new(),
        refuse: false,
    };
    assert!(matches!(
        apply(&p, &mut vault, &backups(d.path()))[0],
        Outcome::Changed { .. }
    ));
    assert!(vault.stored.is_empty());
}

#[test]
fn symlinked_profiles_are_rewritten_in_place_of_their_target() {
    let d = tempfile::tempdir().unwrap();
    let dots = d.path().join("dotfiles");
    std::fs::create_dir(&dots).unwrap();
    let a = anthropic(7);
    std::fs::write(
        dots.join("fish.conf"),
        format!("set -gx ANTHROPIC_API_KEY {a}\n"),
    )
    .unwrap();
    std::fs::create_dir_all(d.path().join(".config/fish")).unwrap();
    std::os::unix::fs::symlink(
        dots.join("fish.conf"),
        d.path().join(".config/fish/config.fish"),
    )
    .unwrap();
    let inp = inputs(d.path(), &dots);
    let r = report(&inp);
    assert_eq!(r.sources[0].kind, SourceKind::Profile(Dialect::Fish));
    let p = plan(&r, &inp.detector, &opts());
    let mut vault = MemVault {
        stored: Vec::new(),
        refuse: false,
    };
    assert!(matches!(
        apply(&p, &mut vault, &backups(d.path()))[0],
        Outcome::Applied { .. }
    ));
    assert!(
        std::fs::symlink_metadata(d.path().join(".config/fish/config.fish"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(!std::fs::read_to_string(dots.join("fish.conf"))
        .unwrap()
        .contains(&a));
    // No backup inside the dotfiles repository the link points into.
    assert_eq!(std::fs::read_dir(&dots).unwrap().count(), 1);
}

#[test]
fn a_line_with_another_unmovable_key_is_left_alone() {
    let d = tempfile::tempdir().unwrap();
    let a = anthropic(8);
    let o = openai_proj(9);
    std::fs::write(
        d.path().join(".bashrc"),
        format!("export ANTHROPIC_API_KEY={a} OTHER={o}\n"),
    )
    .unwrap();
    let inp = inputs(d.path(), d.path());
    let p = plan(&report(&inp), &inp.detector, &opts());
    assert!(p.files.is_empty());
    assert_eq!(p.skips.len(), 2);
    assert!(
        p.skips[0].reason.contains("not a single assignment"),
        "{:?}",
        p.skips
    );
}

#[test]
fn several_variable_tools_need_all_their_variables() {
    let d = tempfile::tempdir().unwrap();
    let t =
        ToolTable::with_config("[tools.pair]\nvars = [\"PAIR_ID\", \"PAIR_SECRET\"]\n").unwrap();
    std::fs::write(d.path().join(".env"), "PAIR_SECRET=Zq8rT2mK9wLp4XvB7nC3\n").unwrap();
    let mut inp = inputs(d.path(), d.path());
    inp.detector = Detector::new(t);
    let p = plan(&report(&inp), &inp.detector, &opts());
    assert!(p.files.is_empty());
    assert!(
        p.skips[0].reason.contains("needs PAIR_ID, PAIR_SECRET"),
        "{:?}",
        p.skips
    );
}

fn fix_all(root: &Path, inp: &Inputs) -> (Plan, Vec<Outcome>, MemVault) {
    let p = plan(&report(inp), &inp.detector, &opts());
    let mut vault = MemVault {
        stored: Vec::new(),
        refuse: false,
    };
    let o = apply(&p, &mut vault, &backups(root));
    (p, o, vault)
}

#[track_caller]
fn bash_n(path: &Path) {
    let out = std::process::Command::new("bash")
        .arg("-n")
        .arg(path)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "bash -n {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// issue: the key inside `if … else … fi` and in a compound line. Before,
/// `--fix` emptied the `if` body (`bash -n` failed: syntax error near
/// `else`) and the compound line lost its `PATH` statement.
#[test]
fn shell_lines_other_than_single_assignments_get_a_hint_and_bash_still_parses() {
    let d = tempfile::tempdir().unwrap();
    let a = anthropic(20);
    let o = openai_proj(21);
    let rc = d.path().join(".bashrc");
    let text = format!(
        "if [ -n \"$WORK\" ]; then\n  export ANTHROPIC_API_KEY={a}\nelse\n  echo home\nfi\nexport FOO=1; export OPENAI_API_KEY={o}; export PATH=\"$HOME/bin:$PATH\"\nalias ll='ls -l'\n"
    );
    std::fs::write(&rc, &text).unwrap();
    bash_n(&rc);
    let inp = inputs(d.path(), d.path());
    let (p, outcomes, vault) = fix_all(d.path(), &inp);
    assert!(
        p.files.is_empty(),
        "{:?}",
        p.files.iter().map(|f| &f.changes).collect::<Vec<_>>()
    );
    assert!(outcomes.is_empty() && vault.stored.is_empty());
    assert_eq!(p.skips.len(), 2, "{:?}", p.skips);
    assert!(
        p.skips
            .iter()
            .all(|s| s.reason.contains("not a single assignment")
                || s.reason.contains("not in a variable doctor can move")),
        "{:?}",
        p.skips
    );
    assert_eq!(std::fs::read_to_string(&rc).unwrap(), text);
    bash_n(&rc);

    // With a movable line too: only that line changes, the file still parses.
    let c = anthropic(22);
    let text2 = format!("export CLAUDE_X=1\nexport ANTHROPIC_API_KEY={c}\n{text}");
    std::fs::write(&rc, &text2).unwrap();
    let (_, _, vault) = fix_all(d.path(), &inp);
    assert!(
        vault.stored.is_empty(),
        "two different keys for claude in the global scope"
    );
    // One key only, outside the `if`: moved, the rest kept.
    let text3 = format!("export ANTHROPIC_API_KEY={c}\nif true; then\n  echo x\nfi\nexport FOO=1; export PATH=\"$HOME/bin:$PATH\"\n");
    std::fs::write(&rc, &text3).unwrap();
    let (_, outcomes, vault) = fix_all(d.path(), &inp);
    assert!(
        matches!(outcomes[0], Outcome::Applied { .. }),
        "{outcomes:?}"
    );
    assert_eq!(vault.stored.len(), 1);
    let after = std::fs::read_to_string(&rc).unwrap();
    assert!(!after.contains(&c));
    assert!(after
        .ends_with("if true; then\n  echo x\nfi\nexport FOO=1; export PATH=\"$HOME/bin:$PATH\"\n"));
    bash_n(&rc);
}

/// issue: a key set in both branches of an `if` ended as one session (the
/// last one won).
#[test]
fn a_key_set_in_both_branches_of_an_if_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (anthropic(23), anthropic(24));
    let rc = d.path().join(".zshrc");
    std::fs::write(&rc, format!("if [ \"$HOST\" = work ]; then\n  export ANTHROPIC_API_KEY={a}\nelse\n  export ANTHROPIC_API_KEY={b}\nfi\n")).unwrap();
    let inp = inputs(d.path(), d.path());
    let (p, _, vault) = fix_all(d.path(), &inp);
    assert!(p.files.is_empty() && vault.stored.is_empty());
    assert_eq!(p.skips.len(), 2);
    bash_n(&rc);
}

/// issue: two MCP servers, each with its own OPENAI_API_KEY, became one
/// session and `alpha` ran with `beta`'s key.
#[test]
fn two_servers_with_different_keys_are_never_merged() {
    let d = tempfile::tempdir().unwrap();
    let (home, proj) = (d.path().join("home"), d.path().join("proj"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&proj).unwrap();
    let (k1, k2) = (openai_proj(25), openai_proj(27));
    let mcp = format!("{{\"mcpServers\": {{\"alpha\": {{\"command\": \"a\", \"env\": {{\"OPENAI_API_KEY\": \"{k1}\"}}}}, \"beta\": {{\"command\": \"b\", \"env\": {{\"OPENAI_API_KEY\": \"{k2}\"}}}}}}}}\n");
    std::fs::write(proj.join(".mcp.json"), &mcp).unwrap();
    let inp = inputs(&home, &proj);
    let (p, _, vault) = fix_all(d.path(), &inp);
    assert!(p.files.is_empty() && vault.stored.is_empty());
    assert_eq!(p.skips.len(), 2);
    assert!(
        p.skips
            .iter()
            .all(|s| s.reason.contains("two different keys for tool `codex`")
                && s.reason.contains("mcpServers.alpha")
                && s.reason.contains("mcpServers.beta")),
        "{:?}",
        p.skips
    );
    assert_eq!(
        std::fs::read_to_string(proj.join(".mcp.json")).unwrap(),
        mcp
    );

    // The same key in both: one session, both servers wrapped.
    let same = mcp.replace(&k2, &k1);
    std::fs::write(proj.join(".mcp.json"), &same).unwrap();
    let (_, outcomes, vault) = fix_all(d.path(), &inp);
    assert!(
        matches!(outcomes[0], Outcome::Applied { .. }),
        "{outcomes:?}"
    );
    assert_eq!(vault.stored.len(), 2);
    assert!(vault.stored.iter().all(|s| s.values[0].1.expose() == k1));
}

/// issue: several `.env*` files in one directory with different keys.
#[test]
fn different_keys_in_several_env_files_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let (home, proj) = (d.path().join("home"), d.path().join("proj"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(
        proj.join(".env"),
        format!("OPENAI_API_KEY={}\n", openai_proj(28)),
    )
    .unwrap();
    std::fs::write(
        proj.join(".env.local"),
        format!("OPENAI_API_KEY={}\n", openai_proj(30)),
    )
    .unwrap();
    let inp = inputs(&home, &proj);
    let (p, _, vault) = fix_all(d.path(), &inp);
    assert!(
        p.files.is_empty() && vault.stored.is_empty(),
        "{:?}",
        p.skips
    );
    assert_eq!(p.skips.len(), 2);
    assert!(p.skips[0].reason.contains(".env.local"), "{:?}", p.skips);
}

/// A directory swapped for a symlink after planning is refused at apply.
#[test]
fn a_directory_swapped_after_planning_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let (home, proj) = (d.path().join("home"), d.path().join("proj"));
    std::fs::create_dir_all(home.join(".claude")).unwrap();
    std::fs::create_dir_all(proj.join(".claude")).unwrap();
    std::fs::write(home.join(".claude/settings.json"), "{}\n").unwrap();
    let a = anthropic(31);
    let settings = format!("{{\"env\": {{\"ANTHROPIC_API_KEY\": \"{a}\"}}}}\n");
    std::fs::write(proj.join(".claude/settings.json"), &settings).unwrap();
    let inp = inputs(&home, &proj);
    let p = plan(&report(&inp), &inp.detector, &opts());
    assert_eq!(p.files.len(), 1);
    std::fs::rename(proj.join(".claude"), proj.join("aside")).unwrap();
    std::os::unix::fs::symlink(home.join(".claude"), proj.join(".claude")).unwrap();
    std::fs::write(home.join(".claude/settings.json"), &settings).unwrap();
    let mut vault = MemVault {
        stored: Vec::new(),
        refuse: false,
    };
    let o = apply(&p, &mut vault, &backups(d.path()));
    assert!(
        matches!(&o[0], Outcome::Failed { message, .. } if message.contains("symbolic link")),
        "{o:?}"
    );
    assert!(vault.stored.is_empty());
    assert_eq!(
        std::fs::read_to_string(home.join(".claude/settings.json")).unwrap(),
        settings
    );
}
