//! `integrate codex --proxy` (docs/design.md §10, §12): Codex's
//! `config.toml` gains a provider at the proxy with every other key,
//! comment and the user's layout kept; `--undo` gives the bytes back when
//! nothing else changed and otherwise removes only what it added; a file
//! that is not TOML is refused untouched.
use crate::util::*;
use std::path::{Path, PathBuf};

/// A user's config with comments, odd spacing, another provider and a
/// table after it.
const CONFIG: &str = "# my Codex settings\nmodel = \"gpt-5-codex\"   # keep this comment\napproval_policy=\"on-request\"\n\n[model_providers.mine]\nname = \"Mine\"\nbase_url = \"https://example.invalid/v1\"\n\n# the UI\n[tui]\nnotifications = true\n";

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

fn wrappers(env: &TestEnv) -> PathBuf {
    env.data_dir().join("shell-wrappers")
}

/// The provider `integrate` wrote, as Codex reads it.
fn check_provider(text: &str, addr: &str) {
    let doc: toml_edit::DocumentMut = text.parse().expect("still TOML");
    assert_eq!(doc["model_provider"].as_str(), Some("session-vault"));
    let p = &doc["model_providers"]["session-vault"];
    assert_eq!(
        p["base_url"].as_str(),
        Some(format!("http://{addr}/t/codex/v1").as_str())
    );
    assert_eq!(p["env_key"].as_str(), Some("CODEX_API_KEY"));
    assert_eq!(p["wire_api"].as_str(), Some("responses"));
    assert!(p["name"].as_str().is_some());
}

#[test]
fn codex_config_gets_the_proxy_provider_and_undo_is_byte_exact() {
    let env = TestEnv::passphrase();
    env.run(&["daemon", "start"], None).ok();
    let addr = env.proxy_addr();
    let config = env.home.join(".codex/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, CONFIG).unwrap();

    let r = env.run(&["integrate", "codex", "--proxy"], None).ok();
    assert!(
        r.stdout.contains("exec --proxy --tool codex"),
        "{}",
        r.stdout
    );
    let text = read(&config);
    check_provider(&text, &addr);
    // The user's lines are all still there, as written, in their order.
    let kept: Vec<&str> = CONFIG.lines().collect();
    let mut at = 0;
    for line in text.lines() {
        if at < kept.len() && line == kept[at] {
            at += 1;
        }
    }
    assert_eq!(at, kept.len(), "a line of the user's changed:\n{text}");
    assert!(read(&wrappers(&env)).lines().any(|l| l == "codex"));
    // A private backup, listed in the index, not beside the file.
    let backups = env.data_dir().join("backups");
    assert!(read(&backups.join("index.jsonl")).contains("config.toml"));
    assert_eq!(
        std::fs::read_dir(config.parent().unwrap()).unwrap().count(),
        1
    );

    // Again: nothing changes.
    let r = env.run(&["integrate", "codex", "--proxy"], None).ok();
    assert!(r.stdout.contains("nothing changed"), "{}", r.stdout);
    assert_eq!(read(&config), text);

    env.run(&["integrate", "codex", "--undo"], None).ok();
    assert_eq!(read(&config), CONFIG);
    assert!(!wrappers(&env).exists());
    let r = env.run(&["integrate", "codex", "--undo"], None).ok();
    assert!(r.stdout.contains("nothing to undo"), "{}", r.stdout);

    // Something else changed since: only session-vault's keys go.
    env.run(&["integrate", "codex", "--proxy"], None).ok();
    let edited = read(&config).replace("notifications = true", "notifications = false # mine");
    std::fs::write(&config, &edited).unwrap();
    env.run(&["integrate", "codex", "--undo"], None).ok();
    let after = read(&config);
    assert_eq!(
        after,
        CONFIG.replace("notifications = true", "notifications = false # mine"),
        "{after}"
    );

    // A provider the user had selected comes back; so does a file that
    // did not exist (it goes again).
    let selected = format!("model_provider = \"mine\"\n{CONFIG}");
    std::fs::write(&config, &selected).unwrap();
    env.run(&["integrate", "codex", "--proxy"], None).ok();
    check_provider(&read(&config), &addr);
    env.run(&["integrate", "codex", "--undo"], None).ok();
    assert_eq!(read(&config), selected);
    std::fs::remove_file(&config).unwrap();
    env.run(&["integrate", "codex", "--proxy"], None).ok();
    check_provider(&read(&config), &addr);
    env.run(&["integrate", "codex", "--undo"], None).ok();
    assert!(!config.exists());

    // Codex has no key helper, and its config is the user's.
    env.run(&["integrate", "codex"], None).code(2);
    env.run(&["integrate", "codex", "--proxy", "--project", "."], None)
        .code(2);
}

#[test]
fn codex_home_is_honoured() {
    let mut env = TestEnv::passphrase();
    let codex_home = env.mkdir("codex-home");
    env.extra_env
        .push(("CODEX_HOME".into(), codex_home.display().to_string()));
    env.run(&["daemon", "start"], None).ok();
    let addr = env.proxy_addr();
    env.run(&["integrate", "codex", "--proxy"], None).ok();
    check_provider(&read(&codex_home.join("config.toml")), &addr);
    assert!(!env.home.join(".codex").exists());
    env.run(&["integrate", "codex", "--undo"], None).ok();
    assert!(!codex_home.join("config.toml").exists());
}

#[test]
fn a_damaged_codex_config_is_refused_untouched() {
    let env = TestEnv::passphrase();
    env.run(&["daemon", "start"], None).ok();
    let config = env.home.join(".codex/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    let broken =
        "model = \"gpt-5\"\n[model_providers.x\nexperimental_bearer_token = \"sk-proj-NOTSHOWN\"\n";
    std::fs::write(&config, broken).unwrap();
    let r = env.run(&["integrate", "codex", "--proxy"], None).code(1);
    assert!(
        r.stderr.contains("not valid TOML") && r.stderr.contains("line 2"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("nothing was changed"), "{}", r.stderr);
    assert!(!r.stderr.contains("NOTSHOWN"), "{}", r.stderr);
    assert_eq!(read(&config), broken);
    assert!(!wrappers(&env).exists());
    assert!(!env.data_dir().join("backups/index.jsonl").exists());
    // --undo refuses it the same way.
    env.run(&["integrate", "codex", "--undo"], None).code(1);
    assert_eq!(read(&config), broken);
    // model_providers that is not a table: refused too.
    std::fs::write(&config, "model_providers = \"x\"\n").unwrap();
    let r = env.run(&["integrate", "codex", "--proxy"], None).code(1);
    assert!(r.stderr.contains("not as a table"), "{}", r.stderr);
    assert_eq!(read(&config), "model_providers = \"x\"\n");
}
