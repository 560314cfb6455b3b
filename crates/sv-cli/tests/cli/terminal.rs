//! Interactive use on a real terminal (tmux): hidden input, the first
//! unlock asking twice, `add` prompting with the variable's name.
use crate::util::*;
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(env: &TestEnv, script: &str) -> Tmux {
        let socket = format!(
            "sv-test-{}-{}",
            std::process::id(),
            env.dir.path().file_name().unwrap().to_string_lossy()
        );
        let mut parts = vec![format!("HOME='{}'", env.home.display())];
        parts.push(format!("XDG_RUNTIME_DIR='{}'", env.runtime.display()));
        parts.push(format!("XDG_DATA_HOME='{}'", env.data_home.display()));
        parts.push(format!(
            "PATH='{}'",
            std::env::var("PATH").unwrap_or_default()
        ));
        for (k, v) in &env.extra_env {
            parts.push(format!("{k}='{v}'"));
        }
        let cmd = format!(
            "cd '{}' && env -i {} sh -c '{}'; echo EXIT=$?; sleep 60",
            env.dir.path().display(),
            parts.join(" "),
            script
        );
        let st = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "200",
                "-y",
                "40",
                &cmd,
            ])
            .status()
            .expect("tmux is installed (.ci/run installs it)");
        assert!(st.success());
        Tmux { socket }
    }

    fn screen(&self) -> String {
        let o = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-S", "-100"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {text:?}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn type_line(&self, text: &str) {
        let st = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-l", text])
            .status()
            .unwrap();
        assert!(st.success());
        let st = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "Enter"])
            .status()
            .unwrap();
        assert!(st.success());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

#[test]
fn first_unlock_asks_twice_and_hides_input() {
    let env = TestEnv::passphrase();
    let sv = sv_bin();
    let app = env.mkdir("app");
    let t = Tmux::start(
        &env,
        &format!(
            "{} unlock && {} add --tool claude --project {}",
            sv.display(),
            sv.display(),
            app.display()
        ),
    );
    t.wait_for("New vault passphrase:");
    t.type_line("typed-passphrase-1");
    t.wait_for("Repeat the passphrase:");
    t.type_line("typed-passphrase-1");
    t.wait_for("Enter ANTHROPIC_API_KEY (input hidden):");
    t.type_line("sk-ant-typed-secret");
    let screen = t.wait_for("EXIT=");
    assert!(screen.contains("Vault created and unlocked."), "{screen}");
    assert!(screen.contains("Stored session "), "{screen}");
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(
        !screen.contains("typed-passphrase-1"),
        "the passphrase was echoed:\n{screen}"
    );
    assert!(
        !screen.contains("sk-ant-typed-secret"),
        "the key was echoed:\n{screen}"
    );
    assert_eq!(
        env.get_in(&app, "claude").ok().stdout,
        "sk-ant-typed-secret\n"
    );
    // The passphrase typed on the terminal is the one that unlocks.
    env.run(&["lock"], None).ok();
    env.run(&["unlock"], Some("typed-passphrase-1\n")).ok();
}

#[test]
fn mismatched_passphrases_create_nothing() {
    let env = TestEnv::passphrase();
    let t = Tmux::start(&env, &format!("{} unlock", sv_bin().display()));
    t.wait_for("New vault passphrase:");
    t.type_line("one");
    t.wait_for("Repeat the passphrase:");
    t.type_line("two");
    let screen = t.wait_for("EXIT=");
    assert!(screen.contains("differ"), "{screen}");
    assert!(screen.contains("EXIT=2"), "{screen}");
    let v: serde_json::Value =
        serde_json::from_str(&env.run(&["daemon", "status", "--json"], None).ok().stdout).unwrap();
    assert_eq!(v["initialized"], false);
}
