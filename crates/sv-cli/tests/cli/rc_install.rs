//! `install` / `uninstall` through the real binary: one block however often
//! it runs, the file's exact bytes back afterwards, mode and links kept.
use crate::util::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const START: &str = "# >>> session-vault";
const END: &str = "# <<< session-vault <<<";

fn count(hay: &[u8], needle: &str) -> usize {
    hay.windows(needle.len())
        .filter(|w| *w == needle.as_bytes())
        .count()
}

fn install(env: &TestEnv, shell: &str, rc: &Path) -> Run {
    env.run(
        &["install", "--shell", shell, "--rc", rc.to_str().unwrap()],
        None,
    )
    .ok()
}

fn uninstall(env: &TestEnv, shell: &str, rc: &Path) -> Run {
    env.run(
        &["uninstall", "--shell", shell, "--rc", rc.to_str().unwrap()],
        None,
    )
    .ok()
}

#[test]
fn install_twice_is_one_block_and_uninstall_gives_back_the_bytes() {
    let env = TestEnv::new();
    let originals: &[(&str, &[u8])] = &[
        ("empty", b""),
        (
            "no-final-newline",
            b"export PATH=$HOME/bin:$PATH\nalias ll='ls -l'",
        ),
        ("lf", b"export A=1\n\n# end\n"),
        ("crlf", b"$env:A = 1\r\n$env:B = 2\r\n"),
        ("crlf-no-final-newline", b"set -gx A 1\r\nset -gx B 2"),
        ("not-utf8", b"echo \xff\xfe\n"),
    ];
    for shell in ["bash", "zsh", "fish", "powershell"] {
        for (name, bytes) in originals {
            let rc = env.dir.path().join(format!("{shell}-{name}.rc"));
            std::fs::write(&rc, bytes).unwrap();
            std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
            let r = install(&env, shell, &rc);
            assert!(
                r.stdout.contains("Added the session-vault block"),
                "{}",
                r.stdout
            );
            let once = std::fs::read(&rc).unwrap();
            assert!(
                once.starts_with(bytes),
                "{shell} {name}: the old content must stay first"
            );
            assert_eq!(count(&once, START), 1);
            assert_eq!(count(&once, END), 1);
            assert!(
                contains(&once, format!("session-vault init {shell}").as_bytes()),
                "{shell} {name}"
            );
            if name.starts_with("crlf") {
                // Every line of the block ends as the file's own lines do.
                assert_eq!(count(&once, "\n"), count(&once, "\r\n"), "{shell} {name}");
            }
            let r = install(&env, shell, &rc);
            assert!(r.stdout.contains("already in"), "{}", r.stdout);
            assert_eq!(
                std::fs::read(&rc).unwrap(),
                once,
                "{shell} {name}: second install changed the file"
            );
            let mode = std::fs::metadata(&rc).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{shell} {name}: mode not kept");
            let r = uninstall(&env, shell, &rc);
            assert!(
                r.stdout.contains("Removed the session-vault block"),
                "{}",
                r.stdout
            );
            assert_eq!(
                std::fs::read(&rc).unwrap(),
                *bytes,
                "{shell} {name}: bytes not restored"
            );
            let r = uninstall(&env, shell, &rc);
            assert!(r.stdout.contains("No session-vault block"), "{}", r.stdout);
            assert_eq!(std::fs::read(&rc).unwrap(), *bytes);
        }
    }
    // No temporary file is left beside the rc files.
    for e in std::fs::read_dir(env.dir.path()).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.contains(".tmp"), "left over: {name}");
    }
}

#[test]
fn a_missing_file_is_created_and_removed_again() {
    let env = TestEnv::new();
    let rc = env.dir.path().join("new/dir/rc.fish");
    install(&env, "fish", &rc);
    let text = std::fs::read_to_string(&rc).unwrap();
    assert_eq!(
        text,
        "# >>> session-vault (created this file) >>>\n\
         # Added by `session-vault install --shell fish`; `session-vault uninstall --shell fish` removes it.\n\
         if command -q session-vault; session-vault init fish | source; end\n\
         # <<< session-vault <<<\n"
    );
    let out = std::process::Command::new("fish")
        .args(["-n", rc.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = uninstall(&env, "fish", &rc);
    assert!(r.stdout.contains("install had created it"), "{}", r.stdout);
    assert!(!rc.exists());
    let r = uninstall(&env, "fish", &rc);
    assert!(r.stdout.contains("does not exist"), "{}", r.stdout);
}

#[test]
fn lines_the_user_added_after_the_block_are_kept() {
    let env = TestEnv::new();
    let rc = env.dir.path().join("bashrc");
    std::fs::write(&rc, "a").unwrap();
    install(&env, "bash", &rc);
    let mut f = std::fs::read(&rc).unwrap();
    f.extend_from_slice(b"export LATER=1\n");
    std::fs::write(&rc, &f).unwrap();
    uninstall(&env, "bash", &rc);
    assert_eq!(std::fs::read_to_string(&rc).unwrap(), "a\nexport LATER=1\n");
}

#[test]
fn default_files_per_shell() {
    let env = TestEnv::new();
    let zdot = env.mkdir("zdot");
    /// Shell, extra environment, the file it must pick.
    type Case<'a> = (&'a str, Vec<(&'a str, &'a Path)>, std::path::PathBuf);
    let cases: Vec<Case> = vec![
        ("bash", vec![], env.home.join(".bashrc")),
        ("zsh", vec![], env.home.join(".zshrc")),
        (
            "zsh",
            vec![("ZDOTDIR", zdot.as_path())],
            zdot.join(".zshrc"),
        ),
        (
            "fish",
            vec![],
            env.home.join(".config/fish/conf.d/session-vault.fish"),
        ),
        (
            "powershell",
            vec![],
            env.home
                .join(".config/powershell/Microsoft.PowerShell_profile.ps1"),
        ),
    ];
    for (shell, extra, expected) in cases {
        let mut cmd = env.command(&["install", "--shell", shell]);
        for (k, v) in &extra {
            cmd.env(k, v);
        }
        let r = run_cmd(cmd, None).ok();
        assert!(
            r.stdout.contains(expected.to_str().unwrap()),
            "{shell}: {}",
            r.stdout
        );
        assert!(
            expected.exists(),
            "{shell}: {} not written",
            expected.display()
        );
        let mut cmd = env.command(&["uninstall", "--shell", shell]);
        for (k, v) in &extra {
            cmd.env(k, v);
        }
        run_cmd(cmd, None).ok();
        assert!(
            !expected.exists(),
            "{shell}: {} should be gone again",
            expected.display()
        );
    }
}

#[test]
fn a_symlinked_rc_file_stays_a_link() {
    let env = TestEnv::new();
    let dotfiles = env.mkdir("dotfiles");
    let real = dotfiles.join("bashrc");
    std::fs::write(&real, "export A=1\n").unwrap();
    let link = env.home.join(".bashrc");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    env.run(&["install", "--shell", "bash"], None).ok();
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(contains(
        &std::fs::read(&real).unwrap(),
        b"session-vault init bash"
    ));
    env.run(&["uninstall", "--shell", "bash"], None).ok();
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_to_string(&real).unwrap(), "export A=1\n");
}

#[test]
fn a_damaged_block_is_refused_and_the_file_left_alone() {
    let env = TestEnv::new();
    let rc = env.dir.path().join("bashrc");
    let damaged = "a\n# >>> session-vault >>>\neval \"$(session-vault init bash)\"\n";
    std::fs::write(&rc, damaged).unwrap();
    for cmd in ["install", "uninstall"] {
        let r = env
            .run(
                &[cmd, "--shell", "bash", "--rc", rc.to_str().unwrap()],
                None,
            )
            .code(1);
        assert!(
            r.stderr
                .contains("without its `# <<< session-vault <<<` end"),
            "{}",
            r.stderr
        );
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert_eq!(std::fs::read_to_string(&rc).unwrap(), damaged);
    }
    let r = env
        .run(
            &[
                "install",
                "--shell",
                "bash",
                "--rc",
                env.dir.path().to_str().unwrap(),
            ],
            None,
        )
        .code(2);
    assert!(r.stderr.contains("is a directory"), "{}", r.stderr);
    let r = env.run(&["install", "--shell", "tcsh"], None).code(2);
    assert!(r.stderr.contains("tcsh"), "{}", r.stderr);
}

#[test]
fn the_installed_lines_are_valid_in_their_shells_and_quiet_without_the_binary() {
    let env = TestEnv::new();
    for (shell, program, check) in [
        ("bash", "bash", "-n"),
        ("zsh", "zsh", "-n"),
        ("fish", "fish", "-n"),
    ] {
        let rc = env.dir.path().join(format!("rc.{shell}"));
        install(&env, shell, &rc);
        let out = std::process::Command::new(program)
            .args([check, rc.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Sourced where session-vault is not on PATH: no error, no output.
        let src = if shell == "fish" { "source" } else { "." };
        let out = std::process::Command::new(program)
            .args(["-c", &format!("{src} {}; echo ok", rc.display())])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &env.home)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n", "{shell}");
        assert!(
            out.stderr.is_empty(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_shell_may_be_named_positionally_or_with_shell() {
    let env = TestEnv::new();
    let rc = env.dir.path().join("bashrc");
    std::fs::write(&rc, "export A=1\n").unwrap();
    let rc_arg = rc.to_str().unwrap();
    let r = env.run(&["install", "bash", "--rc", rc_arg], None).ok();
    assert!(
        r.stdout.contains("Added the session-vault block"),
        "{}",
        r.stdout
    );
    // The same block as `--shell bash` writes: installing that way changes nothing.
    let r = env
        .run(&["install", "--shell", "bash", "--rc", rc_arg], None)
        .ok();
    assert!(r.stdout.contains("already"), "{}", r.stdout);
    assert_eq!(count(&std::fs::read(&rc).unwrap(), START), 1);
    env.run(&["uninstall", "bash", "--rc", rc_arg], None).ok();
    assert_eq!(std::fs::read_to_string(&rc).unwrap(), "export A=1\n");
    // Neither, or both: a usage error naming the help to read.
    for args in [
        &["install"][..],
        &["uninstall", "zsh", "--shell", "bash"][..],
    ] {
        let r = env.run(args, None).code(2);
        assert!(r.stderr.contains("--help`"), "{args:?}: {}", r.stderr);
    }
}
