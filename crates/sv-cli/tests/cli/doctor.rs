//! `session-vault doctor` end to end: fixture homes and projects under the
//! harness's private HOME, the real binaries and, for `--fix --yes`, the
//! real daemon.
use crate::util::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use sv_doctor::samples::*;

#[track_caller]
fn assert_no_key(r: &Run, keys: &[String]) {
    for k in keys {
        assert!(
            !r.stdout.contains(k.as_str()) && !r.stderr.contains(k.as_str()),
            "a key was printed:\n{}\n{}",
            r.stdout,
            r.stderr
        );
        // Not even a long piece of one.
        let mid = &k[k.len() / 2 - 8..k.len() / 2 + 8];
        assert!(
            !r.stdout.contains(mid) && !r.stderr.contains(mid),
            "part of a key was printed"
        );
    }
}

/// Every place and format of the issue, with the placeholders that must
/// not match; returns the keys written.
fn fixture(env: &TestEnv, proj: &Path) -> Vec<String> {
    let h = &env.home;
    let keys: Vec<String> = vec![
        anthropic(1),       // 0 .bashrc
        openai_proj(2),     // 1 .bash_profile
        google(3),          // 2 .profile (GEMINI)
        openrouter(4),      // 3 .zshrc, unknown name
        groq(5),            // 4 .zshenv
        github(6),          // 5 fish config
        anthropic_admin(7), // 6 fish conf.d
        openai_legacy(8),   // 7 PowerShell
        anthropic(9),       // 8 project .env
        github_pat(10),     // 9 project .env.local
        anthropic(11),      // 10 ~/.claude/settings.json env
        openai_proj(12),    // 11 project .claude/settings.local.json
        google(13),         // 12 .mcp.json server env
        anthropic(14),      // 13 ~/.cursor/mcp.json
        openai_proj(15),    // 14 ~/.codex/auth.json
        openai_legacy(16),  // 15 ~/.codex/config.toml
        google(17),         // 16 ~/.gemini/.env
        google(18),         // 17 ~/.gemini/settings.json
    ];
    let k = |i: usize| keys[i].as_str();
    write(&h.join(".bashrc"), &format!("# placeholders first\nexport ANTHROPIC_API_KEY=sk-ant-...\nexport OPENAI_API_KEY=\"your-api-key-here\"\nexport GEMINI_API_KEY=<your key>\nexport CURSOR_API_KEY=\nexport ANTHROPIC_API_KEY=${{ANTHROPIC_KEY_FROM_PASS}}\nexport ANTHROPIC_API_KEY=xxx\nexport ANTHROPIC_API_KEY={}\n", k(0)));
    write(
        &h.join(".bash_profile"),
        &format!("export OPENAI_API_KEY='{}'\n", k(1)),
    );
    write(
        &h.join(".profile"),
        &format!("GEMINI_API_KEY={}; export GEMINI_API_KEY\n", k(2)),
    );
    write(
        &h.join(".zshrc"),
        &format!("export OPENROUTER_KEY={}\n", k(3)),
    );
    write(
        &h.join(".zshenv"),
        &format!("alias g='GROQ_API_KEY={} groq'\n", k(4)),
    );
    write(
        &h.join(".config/fish/config.fish"),
        &format!("set -gx GITHUB_TOKEN {}\n", k(5)),
    );
    write(
        &h.join(".config/fish/conf.d/ai.fish"),
        &format!("set -Ux ANTHROPIC_ADMIN {}\n", k(6)),
    );
    write(
        &h.join(".config/powershell/Microsoft.PowerShell_profile.ps1"),
        &format!("$env:OPENAI_API_KEY = \"{}\"\n", k(7)),
    );
    write(
        &proj.join(".env"),
        &format!("DEBUG=1\nANTHROPIC_API_KEY={}\nOPENAI_API_KEY=\n", k(8)),
    );
    write(&proj.join(".env.local"), &format!("GH_PAT=\"{}\"\n", k(9)));
    write(
        &proj.join(".env.example"),
        "ANTHROPIC_API_KEY=sk-ant-api03-...\nOPENAI_API_KEY=your-api-key-here\n",
    );
    write(
        &h.join(".claude/settings.json"),
        &format!(
            "{{\n  \"env\": {{\n    \"ANTHROPIC_API_KEY\": \"{}\"\n  }}\n}}\n",
            k(10)
        ),
    );
    write(
        &proj.join(".claude/settings.local.json"),
        &format!("{{\"env\": {{\"OPENAI_API_KEY\": \"{}\"}}}}\n", k(11)),
    );
    write(&proj.join(".mcp.json"), &format!("{{\"mcpServers\": {{\"search\": {{\"command\": \"npx\", \"args\": [\"srv\"], \"env\": {{\"GEMINI_API_KEY\": \"{}\"}}}}}}}}\n", k(12)));
    write(&h.join(".cursor/mcp.json"), &format!("{{\"mcpServers\": {{\"a\": {{\"command\": \"a\", \"env\": {{\"ANTHROPIC_API_KEY\": \"{}\"}}}}}}}}\n", k(13)));
    write(
        &h.join(".codex/auth.json"),
        &format!("{{\"OPENAI_API_KEY\": \"{}\"}}\n", k(14)),
    );
    write(
        &h.join(".codex/config.toml"),
        &format!(
            "[mcp_servers.x]\ncommand = \"x\"\nenv = {{ OPENAI_API_KEY = \"{}\" }}\n",
            k(15)
        ),
    );
    write(
        &h.join(".gemini/.env"),
        &format!("GEMINI_API_KEY={}\n", k(16)),
    );
    write(&h.join(".gemini/settings.json"), &format!("{{\"mcpServers\": {{\"g\": {{\"command\": \"g\", \"env\": {{\"GOOGLE_API_KEY\": \"{}\"}}}}}}}}\n", k(17)));
    write(
        &h.join(".claude/.credentials.json"),
        &format!(
            "{{\"claudeAiOauth\": {{\"accessToken\": \"{}\", \"refreshToken\": \"r\"}}}}\n",
            anthropic_oauth(19)
        ),
    );
    std::fs::set_permissions(
        h.join(".claude/.credentials.json"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    keys
}

fn odd_files(proj: &Path) {
    // Huge, binary, unreadable (a read that fails even for root), a loop.
    let mut big = String::from("ANTHROPIC_API_KEY=placeholder\n");
    while big.len() <= 1024 * 1024 {
        big.push_str("# padding padding padding padding padding padding padding\n");
    }
    write(&proj.join(".env.huge"), &big);
    std::fs::write(proj.join(".env.bin"), b"\x7fELF\0\0\x01ANTHROPIC_API_KEY=").unwrap();
    std::os::unix::fs::symlink("/proc/self/mem", proj.join(".env.mem")).unwrap();
    std::os::unix::fs::symlink(proj.join(".env.loop2"), proj.join(".env.loop1")).unwrap();
    std::os::unix::fs::symlink(proj.join(".env.loop1"), proj.join(".env.loop2")).unwrap();
}

/// The check `id` of a `doctor --json` report.
#[track_caller]
fn check<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report}"))
}

#[test]
fn every_location_and_format_is_found_and_no_key_is_printed() {
    let env = TestEnv::new();
    let proj = env.mkdir("proj");
    let keys = fixture(&env, &proj);
    odd_files(&proj);
    let r = env.run_in(&proj, &["doctor"], None).code(1);
    assert_no_key(&r, &keys);
    let o = &r.stdout;
    for place in [
        "~/.bashrc:8 ANTHROPIC_API_KEY",
        "~/.bash_profile:1 OPENAI_API_KEY",
        "~/.profile:1 GEMINI_API_KEY",
        "~/.zshrc:1 OPENROUTER_KEY",
        "~/.zshenv:1",
        "~/.config/fish/config.fish:1 GITHUB_TOKEN",
        "~/.config/fish/conf.d/ai.fish:1 ANTHROPIC_ADMIN",
        "~/.config/powershell/Microsoft.PowerShell_profile.ps1:1 OPENAI_API_KEY",
        "/.env:2 ANTHROPIC_API_KEY",
        "/.env.local:1 GH_PAT",
        "~/.claude/settings.json:3 env.ANTHROPIC_API_KEY",
        "/.claude/settings.local.json:1 env.OPENAI_API_KEY",
        "/.mcp.json:1 mcpServers.search.env.GEMINI_API_KEY",
        "~/.cursor/mcp.json:1 mcpServers.a.env.ANTHROPIC_API_KEY",
        "~/.codex/auth.json:1 OPENAI_API_KEY",
        "~/.codex/config.toml:3 mcp_servers.x.env.OPENAI_API_KEY",
        "~/.gemini/.env:1 GEMINI_API_KEY",
        "~/.gemini/settings.json:1 mcpServers.g.env.GOOGLE_API_KEY",
    ] {
        assert!(o.contains(place), "missing {place} in\n{o}");
    }
    for provider in [
        "anthropic]",
        "anthropic-admin]",
        "openai]",
        "openai-legacy]",
        "google]",
        "openrouter]",
        "groq]",
        "github]",
        "github-fine-grained]",
    ] {
        assert!(o.contains(provider), "missing {provider} in\n{o}");
    }
    assert!(o.contains("sk-ant-…AA (108 chars)"));
    // Placeholders are not findings: only line 8 of .bashrc, nothing from .env.example.
    assert_eq!(o.matches("~/.bashrc:").count(), 1, "{o}");
    assert!(!o.contains(".env.example:"), "{o}");
    for odd in [
        ".env.huge: too large",
        ".env.bin: binary",
        ".env.mem: unreadable",
        ".env.loop1: a loop of symbolic links",
        ".env.loop2: a loop",
    ] {
        assert!(o.contains(odd), "missing {odd} in\n{o}");
    }
    assert!(
        o.contains("Claude Code OAuth tokens: ")
            && o.contains("holds an access token and a refresh token"),
        "{o}"
    );
    assert!(o.contains("Daemon reachable: no daemon answers"));

    let j = env.run_in(&proj, &["doctor", "--json"], None).code(1);
    assert_no_key(&j, &keys);
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(v["ok"], false);
    let checks = v["checks"].as_array().unwrap();
    for (i, c) in checks.iter().enumerate() {
        assert_eq!(c["number"], i + 1);
        assert!(["OK", "WARN", "FAIL"].contains(&c["status"].as_str().unwrap()));
        if c["status"] != "OK" {
            assert!(c["fix"].is_string(), "{c}");
        }
    }
    let cfg = check(&v, "agent-configs");
    let mcp = cfg["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["json_path"] == "mcpServers.search.env.GEMINI_API_KEY")
        .unwrap();
    assert_eq!(mcp["tool"], "gemini");
    assert_eq!(mcp["line"], 1);
    assert!(mcp["file"].as_str().unwrap().ends_with("/proj/.mcp.json"));
    let skipped = check(&v, "dotenv")["skipped"].as_array().unwrap().clone();
    assert_eq!(skipped.len(), 5, "{skipped:?}");
}

#[test]
fn the_environment_and_user_tools_are_checked() {
    let env = TestEnv::new();
    let proj = env.mkdir("proj");
    env.write_config("[tools.openrouter]\nvars = [\"OPENROUTER_API_KEY\"]\n");
    let or = format!("local-{}", body(30, B62, 40));
    write(&proj.join(".env"), &format!("OPENROUTER_API_KEY={or}\n"));
    let a = anthropic(41);
    let mut cmd = env.command(&["doctor"]);
    cmd.current_dir(&proj)
        .env("ANTHROPIC_API_KEY", &a)
        .env("SOME_TOKEN", groq(42));
    let r = run_cmd(cmd, None).code(1);
    assert_no_key(&r, &[a, or, groq(42)]);
    assert!(
        r.stdout.contains(
            "Environment variables: keys are set in this shell: ANTHROPIC_API_KEY, SOME_TOKEN"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(".env:1 OPENROUTER_API_KEY") && r.stdout.contains("[tool openrouter]"),
        "{}",
        r.stdout
    );
}

#[test]
fn recursive_search_honours_gitignore_but_checks_ignored_env_files() {
    let env = TestEnv::new();
    let proj = env.mkdir("proj");
    let keys = [anthropic(20), anthropic(21), anthropic(22), anthropic(23)];
    write(&proj.join(".gitignore"), "node_modules/\n.env\n");
    write(
        &proj.join("node_modules/pkg/.env"),
        &format!("ANTHROPIC_API_KEY={}\n", keys[0]),
    );
    write(
        &proj.join("apps/api/.env"),
        &format!("ANTHROPIC_API_KEY={}\n", keys[1]),
    );
    write(
        &proj.join("apps/web/.env.production"),
        &format!("ANTHROPIC_API_KEY={}\n", keys[2]),
    );
    write(
        &proj.join(".env"),
        &format!("ANTHROPIC_API_KEY={}\n", keys[3]),
    );
    let flat = env.run_in(&proj, &["doctor"], None).code(1);
    assert!(
        flat.stdout
            .contains(".env files: 1 plaintext key in 1 file"),
        "{}",
        flat.stdout
    );
    let r = env.run_in(&proj, &["doctor", "--recursive"], None).code(1);
    assert_no_key(&r, &keys);
    assert!(
        r.stdout.contains(".env files: 3 plaintext keys in 3 files"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("apps/api/.env:1") && r.stdout.contains("apps/web/.env.production:1")
    );
    assert!(!r.stdout.contains("node_modules"), "{}", r.stdout);
    // Odd files deep in the tree are reported, never fatal.
    odd_files(&proj.join("apps/api"));
    let r = env
        .run_in(&proj, &["doctor", "--recursive", "--json"], None)
        .code(1);
    assert_no_key(&r, &keys);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let dotenv = check(&v, "dotenv").clone();
    assert_eq!(dotenv["findings"].as_array().unwrap().len(), 3);
    let mut reasons: Vec<&str> = dotenv["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reason"].as_str().unwrap())
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "binary",
            "symlink_loop",
            "symlink_loop",
            "too_large",
            "unreadable"
        ],
        "{dotenv}"
    );
}

fn git(dir: &Path, args: &[&str]) -> bool {
    std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn a_committed_env_file_says_rotate() {
    let env = TestEnv::new();
    let proj = env.mkdir("repo");
    assert!(
        git(&proj, &["init", "-q"]),
        "this test needs git on PATH (apt-get install git)"
    );
    let k = openai_proj(30);
    write(&proj.join(".env"), &format!("OPENAI_API_KEY={k}\n"));
    assert!(git(&proj, &["add", ".env"]));
    let r = env.run_in(&proj, &["doctor"], None).code(1);
    assert_no_key(&r, &[k]);
    assert!(
        r.stdout.contains("WARN  Keys committed to git: git tracks"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("rotate the key"), "{}", r.stdout);
    let clean = env.mkdir("plain");
    let r = env.run_in(&clean, &["doctor"], None);
    assert!(
        r.stdout
            .contains("OK    Keys committed to git: not inside a git repository"),
        "{}",
        r.stdout
    );
}

fn snapshot(paths: &[PathBuf]) -> Vec<(PathBuf, Vec<u8>, u32)> {
    paths
        .iter()
        .map(|p| {
            (
                p.clone(),
                std::fs::read(p).unwrap(),
                std::fs::metadata(p).unwrap().permissions().mode() & 0o7777,
            )
        })
        .collect()
}

/// The backups `--fix` wrote, from the index in the vault's data
/// directory: (backup, original).
fn vault_backups(env: &TestEnv) -> Vec<(PathBuf, PathBuf)> {
    let dir = env.data_dir().join("backups");
    std::fs::read_to_string(dir.join("index.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| {
            (
                dir.join(v["backup"].as_str().unwrap()),
                PathBuf::from(v["original"].as_str().unwrap()),
            )
        })
        .collect()
}

/// Files beside the originals that look like backups: there must be none.
fn backups_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .contains(".sv-backup-")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn fix_yes_moves_keys_into_the_vault_and_rewrites_the_sources() {
    let env = TestEnv::new();
    let proj = env.mkdir("proj");
    let elsewhere = env.mkdir("elsewhere");
    env.start_unlocked();
    let h = &env.home;
    let claude = anthropic(50);
    let codex = openai_proj(51);
    let gemini = google(52);
    let proj_claude = anthropic(53);
    let unknown = groq(54);
    write(&h.join(".bashrc"), &format!("alias ll='ls -l'\nexport ANTHROPIC_API_KEY=\"{claude}\"\nexport GROQ_API_KEY={unknown}\n"));
    std::fs::set_permissions(h.join(".bashrc"), std::fs::Permissions::from_mode(0o640)).unwrap();
    write(
        &proj.join(".env"),
        &format!("PORT=8080\nOPENAI_API_KEY={codex}\n"),
    );
    std::fs::set_permissions(proj.join(".env"), std::fs::Permissions::from_mode(0o600)).unwrap();
    write(&proj.join(".claude/settings.json"), &format!("{{\n  \"model\": \"opus\",\n  \"env\": {{\n    \"ANTHROPIC_API_KEY\": \"{proj_claude}\",\n    \"DEBUG\": \"1\"\n  }}\n}}\n"));
    write(&proj.join(".mcp.json"), &format!("{{\"mcpServers\": {{\"search\": {{\"command\": \"npx\", \"args\": [\"-y\", \"gsearch\"], \"env\": {{\"GEMINI_API_KEY\": \"{gemini}\"}}}}}}}}\n"));
    let sources = [
        h.join(".bashrc"),
        proj.join(".env"),
        proj.join(".claude/settings.json"),
        proj.join(".mcp.json"),
    ];
    let before = snapshot(&sources);
    let keys = vec![
        claude.clone(),
        codex.clone(),
        gemini.clone(),
        proj_claude.clone(),
        unknown.clone(),
    ];

    // Dry run: says what would change, changes nothing.
    let dry = env.run_in(&proj, &["doctor", "--fix"], None).ok();
    assert_no_key(&dry, &keys);
    assert!(dry.stdout.contains("dry run"), "{}", dry.stdout);
    assert!(
        dry.stdout
            .contains("no tool uses GROQ_API_KEY; add `[tools.NAME]`"),
        "{}",
        dry.stdout
    );
    assert_eq!(snapshot(&sources), before);
    assert!(backups_in(h).is_empty() && backups_in(&proj).is_empty());
    let dry_json = env.run_in(&proj, &["doctor", "--fix", "--json"], None).ok();
    assert_no_key(&dry_json, &keys);
    let v: serde_json::Value = serde_json::from_str(&dry_json.stdout).unwrap();
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["files"].as_array().unwrap().len(), 4);
    assert_eq!(v["skipped"][0]["line"], 3);
    assert_eq!(snapshot(&sources), before);

    let r = env.run_in(&proj, &["doctor", "--fix", "--yes"], None);
    assert_no_key(&r, &keys);
    // The unknown variable is left, so the run is not a full success.
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout.matches("done: stored session").count(),
        4,
        "{}",
        r.stdout
    );

    // The vault serves the keys where they were scoped.
    assert_eq!(
        env.get_in(&elsewhere, "claude").ok().stdout,
        format!("{claude}\n")
    );
    assert_eq!(
        env.get_in(&proj, "claude").ok().stdout,
        format!("{proj_claude}\n")
    );
    assert_eq!(env.get_in(&proj, "codex").ok().stdout, format!("{codex}\n"));
    assert_eq!(
        env.get_in(&proj, "gemini").ok().stdout,
        format!("{gemini}\n")
    );
    env.get_in(&elsewhere, "codex").code(3);

    // Sources rewritten, modes kept, backups byte-identical with the same mode.
    let bashrc = std::fs::read_to_string(h.join(".bashrc")).unwrap();
    let lines: Vec<&str> = bashrc.lines().collect();
    assert_eq!(lines[0], "alias ll='ls -l'");
    assert!(
        lines[1].starts_with("# session-vault doctor --fix ")
            && lines[1].contains("ANTHROPIC_API_KEY moved into the vault")
    );
    assert!(!bashrc.contains(&claude) && bashrc.contains(&unknown));
    assert_eq!(
        std::fs::read_to_string(proj.join(".env")).unwrap(),
        "PORT=8080\n"
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(proj.join(".claude/settings.json")).unwrap())
            .unwrap();
    assert_eq!(
        s,
        serde_json::json!({"model": "opus", "env": {"DEBUG": "1"}, "apiKeyHelper": "session-vault get --tool claude"})
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(proj.join(".mcp.json")).unwrap()).unwrap();
    assert_eq!(
        m["mcpServers"]["search"],
        serde_json::json!({"command": "session-vault", "args": ["exec", "--tool", "gemini", "--", "npx", "-y", "gsearch"]})
    );
    for (path, bytes, mode) in &before {
        assert_eq!(
            std::fs::metadata(path).unwrap().permissions().mode() & 0o7777,
            *mode,
            "{}",
            path.display()
        );
        assert!(backups_in(path.parent().unwrap()).is_empty());
        let backups: Vec<PathBuf> = vault_backups(&env)
            .into_iter()
            .filter(|(_, o)| o == path)
            .map(|(b, _)| b)
            .collect();
        assert_eq!(backups.len(), 1, "{}", path.display());
        assert_eq!(
            &std::fs::read(&backups[0]).unwrap(),
            bytes,
            "backup of {} differs",
            path.display()
        );
        // Private whatever the original's mode.
        assert_eq!(
            std::fs::metadata(&backups[0]).unwrap().permissions().mode() & 0o7777,
            0o600
        );
        let name = backups[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            r.stdout
                .contains(&format!("/session-vault/backups/{name})")),
            "{}",
            r.stdout
        );
    }

    // Twice: nothing changes.
    let after = snapshot(&sources);
    let again = env.run_in(&proj, &["doctor", "--fix", "--yes"], None);
    assert_no_key(&again, &keys);
    assert!(again.stdout.contains("nothing to move"), "{}", again.stdout);
    assert_eq!(snapshot(&sources), after);
    assert_eq!(vault_backups(&env).len(), 4);
    let list = env.run(&["list", "--json"], None).ok();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&list.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        4
    );

    let d = env.run_in(&proj, &["doctor"], None).code(1);
    assert_no_key(&d, &keys);
    assert!(d.stdout.contains("~/.bashrc:3 GROQ_API_KEY"));
    assert!(!d.stdout.contains("~/.bashrc:2"));
}

#[test]
fn fix_with_project_scopes_home_keys_to_that_project() {
    let env = TestEnv::new();
    let proj = env.mkdir("proj");
    let other = env.mkdir("other");
    env.start_unlocked();
    let k = anthropic(60);
    write(
        &env.home.join(".zshrc"),
        &format!("export ANTHROPIC_API_KEY={k}\n"),
    );
    let r = env
        .run_in(
            &other,
            &[
                "doctor",
                "--fix",
                "--yes",
                "--project",
                proj.to_str().unwrap(),
            ],
            None,
        )
        .ok();
    assert_no_key(&r, std::slice::from_ref(&k));
    assert_eq!(env.get_in(&proj, "claude").ok().stdout, format!("{k}\n"));
    env.get_in(&other, "claude").code(3);
    env.run(&["doctor", "--yes"], None).code(2);
    env.run(&["doctor", "--fix", "--project", "/nonexistent/dir"], None)
        .code(2);
}

#[test]
fn a_locked_vault_leaves_every_source_untouched() {
    let env = TestEnv::new();
    let proj = env.mkdir("proj");
    env.start_unlocked();
    let _ = fixture(&env, &proj);
    env.run(&["lock"], None).ok();
    let mut sources: Vec<PathBuf> = Vec::new();
    for dir in [env.home.clone(), proj.clone()] {
        for e in walk(&dir) {
            sources.push(e);
        }
    }
    let before = snapshot(&sources);
    let r = env
        .run_in(&proj, &["doctor", "--fix", "--yes"], None)
        .code(4);
    assert!(
        r.stderr
            .contains("the vault is locked, so nothing was moved or rewritten"),
        "{}",
        r.stderr
    );
    assert_eq!(snapshot(&sources), before);
    for dir in [env.home.clone(), proj.clone()] {
        assert!(walk(&dir)
            .iter()
            .all(|p| !p.to_string_lossy().contains(".sv-backup-")));
    }
    let st = env.run(&["daemon", "status", "--json"], None).ok();
    let st: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(
        st["sessions"], 0,
        "nothing may be stored from a locked vault"
    );
}

#[test]
fn an_unreachable_daemon_leaves_the_file_untouched() {
    // No daemon and no autostart: nothing can be stored, so nothing is rewritten.
    let env = TestEnv::new();
    let proj = env.mkdir("proj");
    let k = anthropic(70);
    write(&proj.join(".env"), &format!("ANTHROPIC_API_KEY={k}\n"));
    let before = snapshot(&[proj.join(".env")]);
    let mut cmd = env.command(&["doctor", "--fix", "--yes"]);
    cmd.current_dir(&proj)
        .env("SESSION_VAULT_NO_AUTOSTART", "1");
    let r = run_cmd(cmd, None).code(4);
    assert_no_key(&r, &[k]);
    assert_eq!(snapshot(&[proj.join(".env")]), before);
    assert!(backups_in(&proj).is_empty());
}

/// Regular files under `dir` (not following links; skipping the vault's own).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            if !p.ends_with(".local") {
                out.extend(walk(&p));
            }
        } else if ft.is_file() {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn a_refusal_midway_leaves_that_file_untouched_and_the_others_proceed() {
    // The daemon read config.toml when it started; a tool added afterwards is
    // known to the CLI but refused by the daemon: a real, non-fatal refusal.
    let env = TestEnv::new();
    let proj = env.mkdir("proj");
    env.start_unlocked();
    env.write_config("[tools.openrouter]\nvars = [\"OPENROUTER_API_KEY\"]\n");
    let or = openrouter(80);
    let a = anthropic(81);
    write(&proj.join(".env"), &format!("OPENROUTER_API_KEY={or}\n"));
    write(
        &proj.join(".env.local"),
        &format!("ANTHROPIC_API_KEY={a}\n"),
    );
    let before = snapshot(&[proj.join(".env")]);
    let r = env
        .run_in(&proj, &["doctor", "--fix", "--yes"], None)
        .code(1);
    assert_no_key(&r, &[or.clone(), a.clone()]);
    assert!(
        r.stdout
            .contains("not changed: the vault refused: unknown tool `openrouter`"),
        "{}",
        r.stdout
    );
    assert_eq!(snapshot(&[proj.join(".env")]), before);
    assert_eq!(
        std::fs::read_to_string(proj.join(".env.local")).unwrap(),
        ""
    );
    assert_eq!(env.get_in(&proj, "claude").ok().stdout, format!("{a}\n"));
    assert!(backups_in(&proj).is_empty());
    let backups = vault_backups(&env);
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(backups[0].1, proj.join(".env.local"));
}

/// issue: a project writer swaps `.claude` for a symlink to the user's own
/// `~/.claude` while `doctor --fix --yes` runs. The edit is anchored on the
/// directory it planned on: the user's settings are never replaced. A real
/// attacker thread swaps in a loop for the whole run; the run is repeated
/// (SV_RACE_ROUNDS, default 300) so that path-based editing loses.
#[test]
fn a_directory_swapped_for_a_symlink_during_fix_is_never_followed() {
    let env = TestEnv::new();
    env.start_unlocked();
    let user_claude = env.home.join(".claude");
    let user_settings = user_claude.join("settings.json");
    let mine = "{\n  \"model\": \"the user's own\"\n}\n";
    write(&user_settings, mine);
    let rounds: usize = std::env::var("SV_RACE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let key = anthropic(90);
    let mut won = 0;
    let mut fixed = 0;
    for round in 0..rounds {
        let proj = env.mkdir(&format!("race{round}"));
        let dot = proj.join(".claude");
        let aside = proj.join(".claude-real");
        write(
            &dot.join("settings.json"),
            &format!("{{\n  \"hooks\": {{\"SessionStart\": \"touch /tmp/pwned\"}},\n  \"env\": {{\"ANTHROPIC_API_KEY\": \"{key}\"}}\n}}\n"),
        );
        let attacker = SymlinkSwapper::start(&dot, &aside, &user_claude, 300, 200, 100);
        let r = env.run_in(&proj, &["doctor", "--fix", "--yes"], None);
        attacker.stop();
        assert_no_key(&r, std::slice::from_ref(&key));
        if std::fs::read_to_string(&user_settings).unwrap() != mine {
            won += 1;
            write(&user_settings, mine);
        }
        if !std::fs::read_to_string(dot.join("settings.json"))
            .unwrap()
            .contains(&key)
        {
            fixed += 1;
        }
    }
    eprintln!(
        "race: {rounds} rounds, the attacker won {won}, the project file was fixed {fixed} times"
    );
    assert_eq!(
        won, 0,
        "~/.claude/settings.json was replaced {won} times in {rounds} rounds"
    );
}

/// issue: the backup `.env.sv-backup-<time>` sat beside the file with its
/// mode (0644), `git status` showed it (the `.gitignore` names `.env` only)
/// and `git add -A` would commit the key. Now the backup is 0600 in the
/// vault's data directory and the repository shows nothing new.
#[test]
fn backups_stay_out_of_the_repository_and_are_private() {
    let env = TestEnv::new();
    let proj = env.mkdir("repo");
    assert!(git(&proj, &["init", "-q"]), "this test needs git");
    env.start_unlocked();
    write(&proj.join(".gitignore"), ".env\n");
    write(&proj.join("main.py"), "print('hi')\n");
    assert!(git(&proj, &["add", "-A"]));
    assert!(git(
        &proj,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "init"
        ]
    ));
    let key = openai_proj(95);
    write(
        &proj.join(".env"),
        &format!("DEBUG=1\nOPENAI_API_KEY={key}\n"),
    );
    std::fs::set_permissions(proj.join(".env"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let status = |dir: &Path| {
        let o = std::process::Command::new("git")
            .args([
                "status",
                "--porcelain",
                "--ignored=no",
                "--untracked-files=all",
            ])
            .current_dir(dir)
            .output()
            .unwrap();
        String::from_utf8(o.stdout).unwrap()
    };
    assert_eq!(status(&proj), "");
    let r = env.run_in(&proj, &["doctor", "--fix", "--yes"], None).ok();
    assert_no_key(&r, std::slice::from_ref(&key));
    assert_eq!(status(&proj), "", "git sees a new file");
    assert_eq!(
        std::fs::read_to_string(proj.join(".env")).unwrap(),
        "DEBUG=1\n"
    );
    assert_eq!(
        std::fs::metadata(proj.join(".env"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o644
    );
    let backups = vault_backups(&env);
    assert_eq!(backups.len(), 1);
    let (backup, original) = &backups[0];
    assert_eq!(original, &proj.join(".env"));
    assert!(backup.starts_with(env.data_dir()));
    assert!(std::fs::read_to_string(backup).unwrap().contains(&key));
    assert_eq!(
        std::fs::metadata(backup).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(backup.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    assert!(
        r.stdout
            .contains("(backup: ~/.local/share/session-vault/backups/"),
        "{}",
        r.stdout
    );
}

/// Claude Code wrote the key into its transcript and Codex its whole
/// environment into a shell snapshot: doctor names both (file and line,
/// never the key), and `--fix --yes` moves the key into the vault once and
/// redacts every file, each line kept, with private backups.
#[test]
fn leftovers_are_found_and_redacted_with_private_backups() {
    let env = TestEnv::new();
    let proj = env.mkdir("proj");
    env.start_unlocked();
    let h = &env.home;
    let claude = anthropic(70);
    let codex = openai_proj(71);
    let gh = github(72);
    write(
        &h.join(".bashrc"),
        &format!("export ANTHROPIC_API_KEY={claude}\n"),
    );
    let transcript = h.join(".claude/projects/-home-u-proj/5e1f.jsonl");
    write(
        &transcript,
        &format!("{{\"type\":\"user\",\"message\":\"run env\"}}\n{{\"toolUseResult\":{{\"stdout\":\"HOME=/h\\nANTHROPIC_API_KEY={claude}\\nX=1\"}}}}\n{{\"type\":\"assistant\",\"text\":\"done\"}}\n"),
    );
    let snap = h.join(".codex/shell_snapshots/snapshot_123.sh");
    write(&snap, &format!("# Snapshot file\ndeclare -x OPENAI_API_KEY=\"{codex}\"\ndeclare -x PATH=\"/usr/bin\"\n"));
    std::fs::set_permissions(&snap, std::fs::Permissions::from_mode(0o644)).unwrap();
    let hist = h.join(".zsh_history");
    write(&hist, &format!(": 1700000000:0;ls\n: 1700000001:0;export ANTHROPIC_API_KEY={claude}\n: 1700000002:0;git push https://x:{gh}@github.com/a/b\n"));
    let fish = h.join(".local/share/fish/fish_history");
    write(
        &fish,
        &format!("- cmd: set -gx OPENAI_API_KEY {codex}\n  when: 1700000000\n"),
    );
    let keys = vec![claude.clone(), codex.clone(), gh.clone()];

    let r = env.run_in(&proj, &["doctor"], None).code(1);
    assert_no_key(&r, &keys);
    for place in [
        "~/.claude/projects/-home-u-proj/5e1f.jsonl:2 ANTHROPIC_API_KEY",
        "~/.codex/shell_snapshots/snapshot_123.sh:2 OPENAI_API_KEY",
        "~/.zsh_history:2 ANTHROPIC_API_KEY",
        "~/.zsh_history:3",
        "~/.local/share/fish/fish_history:1 OPENAI_API_KEY",
    ] {
        assert!(r.stdout.contains(place), "{place} missing:\n{}", r.stdout);
    }
    let js = env.run_in(&proj, &["doctor", "--json"], None).code(1);
    assert_no_key(&js, &keys);
    let v: serde_json::Value = serde_json::from_str(&js.stdout).unwrap();
    let c = check(&v, "leftovers");
    assert_eq!(c["status"], "WARN");

    let r = env.run_in(&proj, &["doctor", "--fix", "--yes"], None);
    assert_no_key(&r, &keys);
    assert!(r.stdout.contains("Redacted 1 key in"), "{}", r.stdout);
    // The GitHub token belongs to no tool: that history is left as it was.
    assert!(r.stdout.contains("Not redacted:"), "{}", r.stdout);
    assert!(std::fs::read_to_string(&hist).unwrap().contains(&gh));
    // One session per key, whichever file it was found in first.
    let list = env.run(&["list", "--json"], None).ok();
    let sessions: Vec<serde_json::Value> = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(sessions.len(), 2, "{}", list.stdout);
    let id_of = |tool: &str| {
        sessions.iter().find(|s| s["tool"] == tool).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (cid, oid) = (id_of("claude"), id_of("codex"));
    assert_eq!(env.get_in(&proj, "codex").ok().stdout, format!("{codex}\n"));
    // Every line kept, the key replaced by the session it moved to.
    let t = std::fs::read_to_string(&transcript).unwrap();
    assert_eq!(
        t,
        format!("{{\"type\":\"user\",\"message\":\"run env\"}}\n{{\"toolUseResult\":{{\"stdout\":\"HOME=/h\\nANTHROPIC_API_KEY=[session-vault:{}]\\nX=1\"}}}}\n{{\"type\":\"assistant\",\"text\":\"done\"}}\n", &cid[..8])
    );
    let s = std::fs::read_to_string(&snap).unwrap();
    assert!(
        s.contains(&format!("OPENAI_API_KEY=\"[session-vault:{}]\"", &oid[..8])),
        "{s}"
    );
    assert_eq!(s.lines().count(), 3);
    assert_eq!(
        std::fs::metadata(&snap).unwrap().permissions().mode() & 0o777,
        0o644
    );
    let f = std::fs::read_to_string(&fish).unwrap();
    assert!(
        f.contains(&format!(
            "set -gx OPENAI_API_KEY [session-vault:{}]",
            &oid[..8]
        )),
        "{f}"
    );
    // Backups: private, under the data directory, never beside the file.
    let backups = env.data_dir().join("backups");
    assert_eq!(
        std::fs::metadata(&backups).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let mut n = 0;
    for e in std::fs::read_dir(&backups).unwrap().flatten() {
        assert_eq!(e.metadata().unwrap().permissions().mode() & 0o777, 0o600);
        n += 1;
    }
    assert!(n >= 3, "{n} backups");
    assert_eq!(
        std::fs::read_dir(transcript.parent().unwrap())
            .unwrap()
            .count(),
        1
    );
    // Doctor now reports the transcript clean, and the backups as leftovers,
    // each named by its index entry as a copy of the file it came from.
    let again = env.run_in(&proj, &["doctor", "--json"], None);
    assert_no_key(&again, &keys);
    let v: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    let c = check(&v, "leftovers");
    let files: Vec<&str> = c["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["file"].as_str())
        .collect();
    assert!(
        !files.iter().any(|f| f.ends_with("-home-u-proj/5e1f.jsonl")),
        "{files:?}"
    );
    let notes: Vec<&str> = c["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    let of_transcript = format!(
        "is a session-vault backup of {} (by doctor --fix (redaction), at ",
        transcript.canonicalize().unwrap().display()
    );
    assert!(
        notes.iter().any(|n| n.contains(&of_transcript)),
        "{notes:#?}"
    );
}

/// On a box with no TPM and no Secret Service (docs/doctor.md, Key backend):
/// a passphrase vault is OK with a note, so a clean setup passes `doctor`,
/// and no line suggests a backend this daemon cannot reach. Where a stronger
/// backend is reachable after all, the WARN names only that one.
/// docs/doctor.md, "Transcripts, histories and shell snapshots": the
/// redaction reaches its file the way every other `--fix` edit does, through
/// the directory resolved at the scan and opened without following a link.
/// A real attacker thread swaps the transcript's directory for a symlink to
/// another directory, holding a file of the same name with the same key, in
/// a loop for the whole `doctor --fix --yes` run, repeated
/// (SV_RACE_ROUNDS, default 100; before the fix the attacker won 8 of 40): the file outside is never written, and
/// nothing is left beside it. (Redacting by path, as before, followed the
/// link whenever the swap fell between the scan and the write.)
#[test]
fn a_transcript_directory_swapped_for_a_symlink_during_redaction_is_never_followed() {
    use std::os::unix::fs::MetadataExt;
    let env = TestEnv::new();
    let proj = env.mkdir("proj");
    env.start_unlocked();
    let key = anthropic(91);
    let text = format!(
        "{{\"type\":\"user\"}}\n{{\"toolUseResult\":{{\"stdout\":\"ANTHROPIC_API_KEY={key}\"}}}}\n"
    );
    let outside = env.mkdir("outside");
    let victim = outside.join("t.jsonl");
    write(&victim, &text);
    let state = |p: &Path| {
        let m = std::fs::symlink_metadata(p).unwrap();
        (
            std::fs::read(p).unwrap(),
            m.ino(),
            m.mtime(),
            m.mtime_nsec(),
        )
    };
    let names = |d: &Path| {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        v.sort();
        v
    };
    let (mut before, listed) = (state(&victim), names(&outside));
    let rounds: usize = std::env::var("SV_RACE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let (mut won, mut redacted) = (0, 0);
    for round in 0..rounds {
        let dot = env.home.join(format!(".claude/projects/race{round}"));
        let aside = env
            .home
            .join(format!(".claude/projects/.race{round}-aside"));
        write(&dot.join("t.jsonl"), &text);
        let attacker = SymlinkSwapper::start(&dot, &aside, &outside, 300, 200, 100);
        let r = env.run_in(&proj, &["doctor", "--fix", "--yes"], None);
        attacker.stop();
        assert_no_key(&r, std::slice::from_ref(&key));
        if state(&victim) != before || names(&outside) != listed {
            won += 1;
            for n in names(&outside) {
                std::fs::remove_file(outside.join(n)).unwrap();
            }
            write(&victim, &text);
            before = state(&victim);
        }
        if !std::fs::read_to_string(dot.join("t.jsonl"))
            .unwrap()
            .contains(&key)
        {
            redacted += 1;
        }
        // The next round's scan has less to read.
        std::fs::remove_dir_all(&dot).unwrap();
    }
    eprintln!(
        "race: {rounds} rounds, the attacker won {won}, the transcript was redacted {redacted} times"
    );
    assert_eq!(
        won, 0,
        "the file outside was written {won} times in {rounds} rounds"
    );
    assert!(redacted > 0, "the transcript was never redacted");
}

/// docs/design.md §3: doctor prints the paths it found the way `list` and
/// `log` print outside text, control characters escaped. A project
/// directory whose name clears the screen and retitles the terminal, and a
/// transcript file name doing the same, reach no terminal raw through the
/// report, the dry run or `--fix --yes`; the JSON keeps the real names.
#[test]
fn doctor_escapes_control_characters_in_paths() {
    let env = TestEnv::new();
    env.start_unlocked();
    let evil = env.mkdir("evil\u{1b}[2J\u{1b}]0;pwned\u{7}");
    let key = openai_proj(92);
    let transcript_key = anthropic(93);
    write(
        &evil.join(".env"),
        &format!("DEBUG=1\nOPENAI_API_KEY={key}\n"),
    );
    write(
        &env.home.join(".claude/projects/p/\u{1b}]0;x\u{7}.jsonl"),
        &format!("{{\"out\":\"ANTHROPIC_API_KEY={transcript_key}\"}}\n"),
    );
    let keys = [key.clone(), transcript_key.clone()];
    for args in [
        &["doctor"][..],
        &["doctor", "--fix"][..],
        &["doctor", "--fix", "--yes"][..],
    ] {
        let r = env.run_in(&evil, args, None);
        assert_no_key(&r, &keys);
        for (name, out) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
            assert!(
                !out.contains('\u{1b}') && !out.contains('\u{7}'),
                "{args:?} printed raw control characters on {name}: {out:?}"
            );
        }
        assert!(
            r.stdout.contains("evil\\u{1b}[2J\\u{1b}]0;pwned\\u{7}"),
            "{args:?}: {}",
            r.stdout
        );
        // The dry run names the files it would rewrite, not the leftovers.
        assert!(
            args == ["doctor", "--fix"] || r.stdout.contains("\\u{1b}]0;x\\u{7}.jsonl"),
            "{args:?}: {}",
            r.stdout
        );
    }
    // The fix went through: the key left the file and the transcript.
    assert!(!std::fs::read_to_string(evil.join(".env"))
        .unwrap()
        .contains(&key));
    // JSON keeps the real name (escaped the JSON way).
    write(
        &evil.join(".env.local"),
        &format!("OPENAI_API_KEY={}\n", openai_proj(94)),
    );
    let js = env.run_in(&evil, &["doctor", "--json"], None);
    let v: serde_json::Value = serde_json::from_str(&js.stdout).unwrap();
    let files: Vec<String> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["findings"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f["file"].as_str().map(str::to_owned))
        .collect();
    assert!(
        files.contains(&evil.join(".env.local").to_str().unwrap().to_owned()),
        "{files:?}"
    );
}

#[test]
fn a_passphrase_vault_without_hardware_passes_and_suggests_only_what_works() {
    let mut env = TestEnv::passphrase();
    // A headless box: no session bus, no TPM address from the suite.
    env.extra_env
        .retain(|(k, _)| k != "DBUS_SESSION_BUS_ADDRESS" && k != "SESSION_VAULT_TCTI");
    env.start_unlocked();
    let proj = env.mkdir("proj");
    let status: serde_json::Value =
        serde_json::from_str(&env.run(&["daemon", "status", "--json"], None).ok().stdout).unwrap();
    let reachable: Vec<&str> = status["backends"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["available"] == true && b["name"] != "passphrase")
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    let r = env.run_in(&proj, &["doctor"], None);
    let o = &r.stdout;
    assert!(o.contains("Key backend: passphrase: software only"), "{o}");
    if reachable.is_empty() {
        assert_eq!(
            r.code, 0,
            "doctor must pass on a clean headless setup:\n{o}"
        );
        assert!(o.contains(" 2. OK    Key backend"), "{o}");
        assert!(
            o.contains("note: no hardware-backed store is reachable here"),
            "{o}"
        );
        assert!(!o.contains("rekey"), "{o}");
    } else {
        // This machine has a TPM device after all: the WARN's fix may only
        // name what the daemon reports reachable.
        assert_eq!(r.code, 1, "{o}");
        let fix = o
            .lines()
            .find(|l| l.contains("fix: `session-vault rekey"))
            .unwrap_or_else(|| panic!("no rekey fix in\n{o}"));
        let named = if reachable[0] == "libsecret" {
            "secret-service"
        } else {
            reachable[0]
        };
        assert!(fix.contains(&format!("--backend {named}`")), "{fix}");
    }
    for unreachable in status["backends"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["available"] == false)
    {
        let name = unreachable["name"].as_str().unwrap();
        let named = if name == "libsecret" {
            "secret-service"
        } else {
            name
        };
        assert!(!o.contains(&format!("rekey --backend {named}")), "{o}");
    }
}
