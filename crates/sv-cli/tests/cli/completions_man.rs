//! `init` output checked by the shells' own parsers and shellcheck,
//! completions for every shell, the man page, and the PowerShell hook (no
//! PowerShell runtime here: its text is checked instead).
use crate::util::*;
use std::process::Command;

fn stdin_check(program: &str, args: &[&str], script: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("script");
    std::fs::write(&f, script).unwrap();
    let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    a.push(f.to_string_lossy().into_owned());
    let out = Command::new(program)
        .args(&a)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}; install it"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn init_output_parses_in_each_shell_and_passes_shellcheck() {
    let env = TestEnv::new();
    for (shell, program, args) in [
        ("bash", "bash", &["-n"][..]),
        ("zsh", "zsh", &["-n"][..]),
        ("fish", "fish", &["-n"][..]),
        ("bash", "shellcheck", &["-s", "bash", "-S", "style"][..]),
    ] {
        let r = env.run(&["init", shell], None).ok();
        assert!(r.stdout.contains("sv_load") && r.stdout.contains("sv_unload"));
        let (ok, msg) = stdin_check(program, args, &r.stdout);
        assert!(ok, "{program} on `init {shell}`: {msg}");
    }
    let r = env.run(&["init", "tcsh"], None).code(2);
    assert!(r.stderr.contains("tcsh"));
}

#[test]
fn completions_for_every_shell() {
    let env = TestEnv::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let r = env.run(&["completions", shell], None).ok();
        assert!(r.stdout.contains("session-vault"), "{shell}");
        for sub in ["integrate", "install", "completions", "exec"] {
            assert!(r.stdout.contains(sub), "{shell} completions lack `{sub}`");
        }
        let check = match shell {
            "bash" => Some(("bash", &["-n"][..])),
            "zsh" => Some(("zsh", &["-n"][..])),
            "fish" => Some(("fish", &["-n"][..])),
            _ => None,
        };
        if let Some((program, args)) = check {
            let (ok, msg) = stdin_check(program, args, &r.stdout);
            assert!(ok, "{shell} completions do not parse: {msg}");
        }
    }
    // Loaded into bash, they complete subcommands.
    let r = env.run(&["completions", "bash"], None).ok();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.bash");
    std::fs::write(&f, &r.stdout).unwrap();
    let script = format!(
        "source {}; COMP_WORDS=(session-vault integ); COMP_CWORD=1; COMP_LINE='session-vault integ'; COMP_POINT=${{#COMP_LINE}}; \
         _session__vault session-vault integ session-vault; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        f.display()
    );
    let out = Command::new("bash")
        .args(["--norc", "-c", &script])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "integrate",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn man_page_is_roff_and_covers_the_commands() {
    let env = TestEnv::new();
    let r = env.run(&["man"], None).ok();
    assert!(
        r.stdout.starts_with(".ie") || r.stdout.contains(".TH session-vault 1"),
        "{}",
        &r.stdout[..200.min(r.stdout.len())]
    );
    assert!(r.stdout.contains(".SH NAME") && r.stdout.contains(".SH SUBCOMMANDS"));
    for sub in [
        "init",
        "install",
        "uninstall",
        "integrate",
        "completions",
        "man",
    ] {
        assert!(
            r.stdout.contains(&format!("session\\-vault\\-{sub}(1)")),
            "man page lacks {sub}"
        );
    }
    let out = env.dir.path().join("man1");
    env.run(&["man", "--out-dir", out.to_str().unwrap()], None)
        .ok();
    for page in [
        "session-vault.1",
        "session-vault-install.1",
        "session-vault-integrate.1",
        "session-vault-daemon-start.1",
    ] {
        let text =
            std::fs::read_to_string(out.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page}");
    }
}

/// PowerShell is not installed here (no pwsh package in Debian), so its
/// hook and `env` output are checked as text.
#[test]
fn powershell_hook_and_output_checked_as_text() {
    let env = TestEnv::new();
    let hook = env.run(&["init", "powershell"], None).ok().stdout;
    assert!(hook.contains("function sv_load {") && hook.contains("function sv_unload {"));
    assert!(hook.contains("$svArgs += @('--format', 'powershell')"));
    assert!(hook.contains("$svArgs += @('--format', 'powershell', '--unset')"));
    assert!(hook.contains("foreach ($svTool in $args) { $svArgs += @('--tool', [string]$svTool) }"));
    // The only code evaluated is session-vault's own output, after checking its exit code.
    assert_eq!(
        hook.matches("Invoke-Expression").count(),
        3,
        "two calls plus the usage comment"
    );
    assert_eq!(hook.matches("Invoke-Expression $svEnv").count(), 2);
    assert_eq!(hook.matches("if ($LASTEXITCODE -ne 0)").count(), 2);
    // Braces and parentheses balance (no runtime to parse it).
    for (open, close) in [('{', '}'), ('(', ')')] {
        assert_eq!(
            hook.matches(open).count(),
            hook.matches(close).count(),
            "{open}{close} unbalanced"
        );
    }

    let app = env.mkdir("p/app");
    env.start_unlocked();
    env.add(
        "claude",
        &["--project", app.to_str().unwrap()],
        "a'b\u{2019}c $(x) `n $env:HOME",
    );
    let r = env
        .run_in(
            &app,
            &["env", "--tool", "claude", "--format", "powershell"],
            None,
        )
        .ok();
    assert_eq!(
        r.stdout,
        "$env:ANTHROPIC_API_KEY = 'a''b\u{2019}\u{2019}c $(x) `n $env:HOME'\n"
    );
    let r = env
        .run_in(
            &app,
            &[
                "env",
                "--tool",
                "claude",
                "--format",
                "powershell",
                "--unset",
            ],
            None,
        )
        .ok();
    assert_eq!(
        r.stdout,
        "Remove-Item -Path Env:ANTHROPIC_API_KEY -ErrorAction SilentlyContinue\n"
    );
    let r = env
        .run(
            &[
                "install",
                "--shell",
                "powershell",
                "--rc",
                env.dir.path().join("profile.ps1").to_str().unwrap(),
            ],
            None,
        )
        .ok();
    assert!(r.stdout.contains("profile.ps1"));
    let text = std::fs::read_to_string(env.dir.path().join("profile.ps1")).unwrap();
    assert!(text.contains(
        "if (Get-Command session-vault -ErrorAction SilentlyContinue) { Invoke-Expression (& session-vault init powershell | Out-String) }"
    ));
}

#[test]
fn env_unset_needs_no_daemon_and_knows_user_tools() {
    let env = TestEnv::new();
    env.write_config("[tools.groq]\nvars = [\"GROQ_API_KEY\"]\n");
    let mut cmd = env.command(&[
        "env", "--tool", "claude", "--tool", "groq", "--unset", "--format", "fish",
    ]);
    cmd.env("SESSION_VAULT_NO_AUTOSTART", "1");
    let r = run_cmd(cmd, None).ok();
    assert_eq!(
        r.stdout,
        "set -e -g ANTHROPIC_API_KEY\nset -e -g GROQ_API_KEY\n"
    );
    let r = env
        .run(
            &["env", "--tool", "groq", "--unset", "--format", "json"],
            None,
        )
        .ok();
    assert_eq!(r.stdout, "[\"GROQ_API_KEY\"]\n");
    let r = env.run(&["env", "--tool", "nope", "--unset"], None).code(2);
    assert!(r.stderr.contains("unknown tool `nope`"));
    assert!(!env.socket().exists(), "no daemon was started");
}
