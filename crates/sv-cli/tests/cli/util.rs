//! Test harness: a private HOME / XDG tree per test, the real
//! `session-vault` and `sv-daemon` binaries, a real socket and vault file.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const PASS: &str = "correct horse battery staple";

pub fn sv_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_session-vault"))
}

pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub runtime: PathBuf,
    pub data_home: PathBuf,
    /// Extra environment for every command (e.g. SESSION_VAULT_BACKEND).
    pub extra_env: Vec<(String, String)>,
}

/// What a command printed and how it ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "expected success; stderr: {}\nstdout: {}",
            self.stderr, self.stdout
        );
        self
    }

    #[track_caller]
    pub fn code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "stderr: {}\nstdout: {}",
            self.stderr, self.stdout
        );
        self
    }
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let dir = tempfile::Builder::new()
            .prefix("svtest")
            .tempdir()
            .expect("tempdir");
        let home = dir.path().join("home");
        let runtime = dir.path().join("run");
        let data_home = home.join(".local/share");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&data_home).unwrap();
        std::fs::create_dir(&runtime).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
        // The suite runs once per backend: SV_TEST_BACKEND picks it, and the
        // services' addresses pass through (see .ci/run).
        let mut extra_env = Vec::new();
        if let Ok(b) = std::env::var("SV_TEST_BACKEND") {
            extra_env.push(("SESSION_VAULT_BACKEND".to_owned(), b));
        }
        for k in ["DBUS_SESSION_BUS_ADDRESS", "SESSION_VAULT_TCTI", "TSS2_LOG"] {
            if let Ok(v) = std::env::var(k) {
                extra_env.push((k.to_owned(), v));
            }
        }
        TestEnv {
            dir,
            home,
            runtime,
            data_home,
            extra_env,
        }
    }

    /// A test environment pinned to the passphrase backend, for tests of
    /// passphrase behaviour (locked at start, wrong passphrase) or that must
    /// not depend on a service only the test runner's user can reach; they
    /// mean nothing under SV_TEST_BACKEND=secret-service or tpm2.
    pub fn passphrase() -> TestEnv {
        TestEnv::with_backend("passphrase")
    }

    /// A test environment whose daemon uses `backend`, whatever
    /// SV_TEST_BACKEND says.
    pub fn with_backend(backend: &str) -> TestEnv {
        let mut env = TestEnv::new();
        env.set_backend(backend);
        env
    }

    /// Sets SESSION_VAULT_BACKEND for every later command.
    pub fn set_backend(&mut self, backend: &str) {
        self.extra_env.retain(|(k, _)| k != "SESSION_VAULT_BACKEND");
        self.extra_env
            .push(("SESSION_VAULT_BACKEND".to_owned(), backend.to_owned()));
    }

    /// Writes the user's `config.toml` (creating the data directory, as the
    /// daemon would, private to the user).
    pub fn write_config(&self, text: &str) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(self.data_dir()).unwrap();
        std::fs::set_permissions(self.data_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(self.data_dir().join("config.toml"), text).unwrap();
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data_home.join("session-vault")
    }

    pub fn vault_db(&self) -> PathBuf {
        self.data_dir().join("vault.db")
    }

    pub fn socket(&self) -> PathBuf {
        self.runtime.join("session-vault.sock")
    }

    /// A directory under the test tree (created).
    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(&p).unwrap();
        p.canonicalize().unwrap()
    }

    /// The environment every command gets: nothing from the test runner but
    /// PATH, so no real key or socket of the developer can leak in.
    pub fn apply_env(&self, cmd: &mut Command) {
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .env("XDG_DATA_HOME", &self.data_home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("LANG", "C.UTF-8");
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(sv_bin());
        cmd.args(args).current_dir(self.dir.path());
        self.apply_env(&mut cmd);
        cmd
    }

    /// Runs `session-vault ARGS` in `cwd` with `stdin` (empty when None).
    pub fn run_in(&self, cwd: &Path, args: &[&str], stdin: Option<&str>) -> Run {
        let mut cmd = self.command(args);
        cmd.current_dir(cwd);
        run_cmd(cmd, stdin)
    }

    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Run {
        self.run_in(self.dir.path(), args, stdin)
    }

    /// Starts the daemon and creates/unlocks the vault with [`PASS`].
    pub fn start_unlocked(&self) {
        self.run(&["daemon", "start"], None).ok();
        self.run(&["unlock"], Some(&format!("{PASS}\n"))).ok();
    }

    /// `add` and return the session id.
    pub fn add(&self, tool: &str, scope: &[&str], secret: &str) -> String {
        let mut args = vec!["add", "--tool", tool];
        args.extend_from_slice(scope);
        let r = self.run(&args, Some(&format!("{secret}\n"))).ok();
        let id = r
            .stdout
            .trim()
            .strip_prefix("Stored session ")
            .unwrap_or_else(|| panic!("unexpected add output {:?}", r.stdout));
        id.to_owned()
    }

    /// `daemon status --json`, parsed.
    pub fn status_json(&self) -> serde_json::Value {
        let r = self.run(&["daemon", "status", "--json"], None).ok();
        serde_json::from_str(&r.stdout).expect("status JSON")
    }

    /// The proxy's `127.0.0.1:PORT`, as `daemon status` shows it.
    pub fn proxy_addr(&self) -> String {
        self.status_json()["proxy"]["listen"]
            .as_str()
            .expect("the proxy listens")
            .to_owned()
    }

    /// `n` `get --tool claude` at once, alternately from `a` (whose key is
    /// `key-a`) and `b` (`key-b`); asserts that each printed its own
    /// project's key.
    pub fn gets_across(&self, a: &Path, b: &Path, n: usize) {
        let children: Vec<_> = (0..n)
            .map(|i| {
                let dir = if i % 2 == 0 { a } else { b };
                let mut cmd = self.command(&["get", "--tool", "claude"]);
                cmd.current_dir(dir)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                (i, cmd.spawn().unwrap())
            })
            .collect();
        let mut wrong = Vec::new();
        for (i, c) in children {
            let o = c.wait_with_output().unwrap();
            let want = if i % 2 == 0 { "key-a\n" } else { "key-b\n" };
            if !o.status.success() || o.stdout != want.as_bytes() {
                wrong.push((
                    i,
                    o.status.code(),
                    String::from_utf8_lossy(&o.stderr).into_owned(),
                ));
            }
        }
        assert!(
            wrong.is_empty(),
            "{} of {n} wrong: {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(5)]
        );
    }

    /// `get --tool` from `cwd`.
    pub fn get_in(&self, cwd: &Path, tool: &str) -> Run {
        self.run_in(cwd, &["get", "--tool", tool], None)
    }

    pub fn daemon_pid(&self) -> Option<i32> {
        let r = self.run(&["daemon", "status", "--json"], None);
        if r.code != 0 {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(&r.stdout).ok()?;
        v["pid"].as_i64().map(|p| p as i32)
    }

    /// Waits until `pid` has exited.
    pub fn wait_gone(pid: i32) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            // Reap it if it is our child (it is not: the CLI detached it).
            std::thread::sleep(Duration::from_millis(20));
            if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                if stat.split_whitespace().nth(2) == Some("Z") {
                    break;
                }
            }
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if let Some(pid) = self.daemon_pid() {
            // SAFETY: plain kill(2).
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
            TestEnv::wait_gone(pid);
        }
    }
}

/// For the tests that act as another user (ignored, so that they show as
/// such; `scripts/test.sh` runs them as root): fails, never skips, when not
/// root.
pub fn need_root() {
    // SAFETY: geteuid cannot fail.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test acts as another user and needs root: run scripts/test.sh as root"
    );
}

pub fn run_cmd(mut cmd: Command, stdin: Option<&str>) -> Run {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    {
        let mut si = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            let _ = si.write_all(s.as_bytes());
        }
    }
    Run::from(child.wait_with_output().expect("wait"))
}

/// Starts `cmd` with its stdin and stdout piped and reads the first line it
/// prints (newline trimmed). The child keeps running: it is the caller's to
/// finish (a line on its stdin, or a kill) and wait for.
pub fn spawn_and_read_line(mut cmd: Command) -> (Child, String) {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .expect("read the child's first line");
    (child, line.trim().to_owned())
}

/// Whether `needle` occurs anywhere in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Connects to `socket` as uid/gid 65534 (needs root) from `cwd`, sends
/// `line` and returns (the client's pid, what came back). A raw client:
/// the CLI itself refuses to talk to another user's daemon.
pub fn raw_request_as_nobody(socket: &Path, cwd: &Path, line: &str) -> (u32, String) {
    use std::os::unix::process::CommandExt;
    let script = "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\ntry:\n    s.sendall(sys.argv[2].encode()+b'\\n')\nexcept OSError:\n    pass\nsys.stdout.write(s.makefile().readline())\n";
    let child = Command::new("python3")
        .args(["-c", script])
        .arg(socket)
        .arg(line)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .uid(65534)
        .gid(65534)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is installed (.ci/run installs it)");
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    (
        pid,
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Writes `text` to `path`, creating its parent directories first.
pub fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The arguments of `session-vault exec --tool claude -- COMMAND...`.
pub fn exec_claude<'a>(command: &[&'a str]) -> Vec<&'a str> {
    [&["exec", "--tool", "claude", "--"][..], command].concat()
}

/// An attacker thread that, until stopped, moves the directory `dot` to
/// `aside`, puts a symlink to `target` in its place for a moment and moves
/// the directory back; pauses in microseconds are `base + n % 7 * step`
/// with the link in place and `idle + n % 5 * step` between swaps.
pub struct SymlinkSwapper {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl SymlinkSwapper {
    pub fn start(dot: &Path, aside: &Path, target: &Path, base: u64, idle: u64, step: u64) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (stopped, dot, aside, target) = (
            stop.clone(),
            dot.to_owned(),
            aside.to_owned(),
            target.to_owned(),
        );
        let thread = std::thread::spawn(move || {
            let mut n = 0u64;
            while !stopped.load(Ordering::Relaxed) {
                if std::fs::rename(&dot, &aside).is_ok() {
                    let _ = std::os::unix::fs::symlink(&target, &dot);
                    n += 1;
                    std::thread::sleep(Duration::from_micros(base + n % 7 * step));
                    let _ = std::fs::remove_file(&dot);
                    let _ = std::fs::rename(&aside, &dot);
                }
                std::thread::sleep(Duration::from_micros(idle + n % 5 * step));
            }
        });
        SymlinkSwapper { stop, thread }
    }

    /// Stops the thread and waits until the directory is back in place.
    pub fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap();
    }
}

/// The fenced code blocks of `text`, a part of the document `doc`:
/// (language, body).
pub fn code_blocks(text: &str, doc: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(String, String)> = None;
    for line in text.lines() {
        match (&mut cur, line.strip_prefix("```")) {
            (None, Some(lang)) => cur = Some((lang.trim().to_owned(), String::new())),
            (Some(_), Some("")) => out.push(cur.take().unwrap()),
            (Some((_, body)), _) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(cur.is_none(), "unterminated code block in {doc}");
    out
}
