//! `session-vault doctor`: gathers what only the CLI knows (the daemon's
//! answer, HOME, the working directory, the environment), runs the
//! `sv-doctor` engine, prints, and for `--fix --yes` lends it the daemon's
//! `add` call. The checks and rewrites themselves live in `sv-doctor`.

use crate::cli::DoctorArgs;
use crate::client::{self, Client};
use crate::config::{project_dir, tool_table, ConfigError};
use crate::error::{CliError, Result};
use crate::output::print;
use std::path::PathBuf;
use sv_core::paths::VaultPaths;
use sv_core::protocol::{self as p, method};
use sv_core::{SecretString, ToolTable};
use sv_doctor::fix::{self, Outcome, StoreRequest, VaultRefusal, VaultSink};
use sv_doctor::redact::{self, RecordingSink};
use sv_doctor::scan::leftovers::{scan_leftovers, LeftoverInputs};
use sv_doctor::scan::{scan_all, Inputs};
use sv_doctor::system::{backend_check, daemon_check, permissions_check, DaemonState};
use sv_doctor::{render, Check, Detector, Report, Status};

/// The tool table, and a check when config.toml cannot be used (the
/// built-in tools are searched for then).
fn tools(paths: &VaultPaths) -> (ToolTable, Option<Check>) {
    let e = match tool_table(paths) {
        Ok(table) => return (table, None),
        Err(e) => e,
    };
    let fix = match &e {
        ConfigError::Invalid { .. } => {
            "correct config.toml; only the built-in tools were searched for".to_owned()
        }
        ConfigError::Unreadable { path, .. } => format!("chmod 600 {path}"),
    };
    let check = Check::new(
        "config",
        "User tools (config.toml)",
        Status::Fail,
        e.to_string(),
    )
    .with_fix(fix);
    (ToolTable::builtin(), Some(check))
}

fn daemon_state(paths: &VaultPaths) -> DaemonState {
    match client::connect_existing(paths) {
        Ok(None) => DaemonState::NotRunning,
        Err(e) => DaemonState::Unreachable(e.to_string()),
        Ok(Some(mut c)) => match c.call::<_, p::StatusResult>(method::STATUS, p::Empty {}) {
            Ok(st) => DaemonState::Running(st),
            Err(e) => DaemonState::Unreachable(e.to_string()),
        },
    }
}

fn inputs(detector: Detector, recursive: bool) -> Result<Inputs> {
    let abs = |k: &str| {
        std::env::var_os(k)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let home = abs("HOME").ok_or_else(|| {
        CliError::Failed(
            "HOME is not set to an absolute path; set it to your home directory".into(),
        )
    })?;
    let cwd = std::env::current_dir().map_err(|e| {
        CliError::Failed(format!(
            "cannot read the current directory ({e}); cd into an existing one"
        ))
    })?;
    let env = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                SecretString::new(v.to_string_lossy().into_owned()),
            )
        })
        .collect();
    Ok(Inputs {
        config_home: abs("XDG_CONFIG_HOME").unwrap_or_else(|| home.join(".config")),
        codex_home: abs("CODEX_HOME").unwrap_or_else(|| home.join(".codex")),
        home,
        cwd,
        recursive,
        detector,
        env,
    })
}

/// Where agents' and shells' leftovers are, and session-vault's backups.
fn leftover_inputs(inp: &Inputs, paths: &VaultPaths) -> LeftoverInputs {
    let abs = |k: &str| {
        std::env::var_os(k)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    LeftoverInputs {
        data_home: abs("XDG_DATA_HOME").unwrap_or_else(|| inp.home.join(".local/share")),
        histfile: abs("HISTFILE"),
        backup_dirs: vec![sv_doctor::fix::backup_dir(paths)],
    }
}

/// The daemon's `add`, as the fix engine's vault.
struct DaemonSink {
    client: Client,
    ttl: u64,
    /// Set once the daemon said it is locked or unreachable.
    unavailable: bool,
}

impl VaultSink for DaemonSink {
    fn store(&mut self, req: &StoreRequest) -> std::result::Result<String, VaultRefusal> {
        let r: Result<p::AddResult> = self.client.call(
            method::ADD,
            p::AddParams {
                tool: req.tool.clone(),
                project: req
                    .project
                    .as_ref()
                    .map(|d| d.to_string_lossy().into_owned()),
                label: Some(req.label.clone()),
                ttl: self.ttl,
                max_age: None,
                values: req
                    .values
                    .iter()
                    .map(|(name, value)| p::VarValue {
                        name: name.clone(),
                        value: value.clone(),
                    })
                    .collect(),
                confirm: false,
                allow_exe: Vec::new(),
            },
        );
        r.map(|a| a.id).map_err(|e| {
            let fatal = e.exit_code() == 4;
            self.unavailable |= fatal;
            VaultRefusal {
                fatal,
                message: e.to_string(),
            }
        })
    }
}

pub fn run(paths: &VaultPaths, a: DoctorArgs) -> Result {
    let home_project = a.project.as_deref().map(project_dir).transpose()?;
    let (table, config_problem) = tools(paths);
    let inp = inputs(Detector::new(table), a.recursive)?;
    let state = daemon_state(paths);
    let uid = crate::platform::current_uid();
    let mut checks = vec![
        daemon_check(&state, paths),
        backend_check(&state),
        permissions_check(paths, uid),
    ];
    checks.extend(config_problem);
    let (scanned, sources) = scan_all(&inp);
    checks.extend(scanned);
    let (leftover_check, leftovers) = scan_leftovers(&inp, &leftover_inputs(&inp, paths));
    checks.push(leftover_check);
    let report = Report::new(checks, sources);

    if !a.fix {
        print(&if a.json {
            render::report_json(&report)
        } else {
            render::report_text(&report, &inp.home)
        })?;
        return exit(report.exit_code());
    }

    let timestamp = sv_fs::time::utc_stamp(sv_fs::time::now_unix());
    let opts = fix::FixOptions {
        home_project,
        config_file: paths.config_file(),
        timestamp: timestamp.clone(),
    };
    let plan = fix::plan(&report, &inp.detector, &opts);
    let print = |outcomes: Option<&[Outcome]>| {
        print(&if a.json {
            render::fix_json(&plan, outcomes)
        } else {
            render::fix_text(&plan, outcomes, &inp.home)
        })
    };
    let to_redact = leftovers.iter().any(|l| redact::redactable(l.source.kind));
    if !a.yes || (plan.files.is_empty() && !to_redact) {
        print(None)?;
        if to_redact && !a.json {
            crate::output::print("Keys left in transcripts, histories and shell snapshots: with --yes, each moves into the vault and is replaced in its file by [session-vault:SESSION] (a private backup goes under the data directory's backups/).\n")?;
        }
        return exit(u8::from(a.yes && !plan.skips.is_empty()));
    }
    // The vault must take the keys before any file is touched.
    let mut c = client::connect_or_start(paths)?;
    let st: p::StatusResult = c.call(method::STATUS, p::Empty {})?;
    if st.locked {
        return Err(CliError::Unavailable(
            "the vault is locked, so nothing was moved or rewritten; run `session-vault unlock`, then `session-vault doctor --fix --yes` again".into(),
        ));
    }
    let mut sink = DaemonSink {
        client: c,
        ttl: a.ttl,
        unavailable: false,
    };
    let backups = sv_fs::Backups::new(fix::backup_dir(paths), &timestamp);
    let mut rec = RecordingSink {
        inner: &mut sink,
        stored: Vec::new(),
    };
    let outcomes = fix::apply(&plan, &mut rec, &backups);
    print(Some(&outcomes))?;
    let redacted = redact::redact_all(
        &leftovers,
        &mut rec,
        &inp.detector,
        opts.home_project.as_deref(),
        &backups,
    );
    print_redactions(&redacted, a.json)?;
    if sink.unavailable {
        return exit(4);
    }
    let all_done = outcomes
        .iter()
        .all(|o| matches!(o, Outcome::Applied { .. }))
        && plan.skips.is_empty()
        && redacted
            .iter()
            .all(|o| matches!(o, redact::RedactOutcome::Redacted { .. }));
    exit(u8::from(!all_done))
}

/// The report is printed: a non-zero code is all that is left to say.
fn exit(code: u8) -> Result {
    match code {
        0 => Ok(()),
        code => Err(CliError::Reported(code)),
    }
}

/// What `--fix` did to transcripts, histories and shell snapshots.
fn print_redactions(done: &[redact::RedactOutcome], json: bool) -> Result {
    if done.is_empty() {
        return Ok(());
    }
    if json {
        let v = serde_json::json!({ "redactions": done });
        return crate::output::print(&format!("{v}\n"));
    }
    let esc =
        |p: &std::path::Path| crate::output::escape_control(&p.display().to_string()).into_owned();
    let mut s = String::new();
    for o in done {
        match o {
            redact::RedactOutcome::Redacted {
                file,
                backup,
                keys,
                ..
            } => s += &format!(
                "Redacted {keys} key{} in {} (each replaced by [session-vault:SESSION]; backup: {}).\n",
                if *keys == 1 { "" } else { "s" },
                esc(file),
                esc(backup)
            ),
            redact::RedactOutcome::Skipped { file, reason } => s += &format!(
                "Not redacted: {}: {}\n",
                esc(file),
                crate::output::escape_control(reason)
            ),
        }
    }
    crate::output::print(&s)
}
