//! Text and JSON renderings of a report and of a `--fix` run. Only masked
//! hints reach these strings: findings carry no printable key. Paths and
//! everything else that came from outside are printed with their control
//! characters escaped, as `list` and `log` print them (docs/design.md §3);
//! the JSON keeps them as they are.

use crate::fix::{FixSkip, Outcome, Plan};
use crate::{Finding, Report, Status};
use serde::Serialize;
use std::path::Path;
use sv_core::text::{escape_control, escape_lines};

/// `~/x` for paths under `home`, control characters escaped.
pub fn show(path: &Path, home: &Path) -> String {
    let s = match path.strip_prefix(home) {
        Ok(rest) if !home.as_os_str().is_empty() && home != Path::new("/") => {
            format!("~/{}", rest.display())
        }
        _ => path.display().to_string(),
    };
    escape_control(&s).into_owned()
}

fn place(f: &Finding, home: &Path) -> String {
    let mut s = match &f.file {
        Some(p) => show(p, home),
        None => "environment".into(),
    };
    if let Some(l) = f.line {
        s += &format!(":{l}");
    }
    if let Some(j) = &f.json_path {
        s += &format!(" {j}");
    } else if let Some(v) = &f.variable {
        s += &format!(" {v}");
    }
    s
}

/// The human report.
pub fn report_text(r: &Report, home: &Path) -> String {
    let mut s = String::from("session-vault doctor\n");
    for c in &r.checks {
        s += &format!(
            "{:>2}. {:<4}  {}: {}\n",
            c.number,
            c.status.label(),
            c.title,
            c.summary
        );
        for f in &c.findings {
            let mut extra = Vec::new();
            if let Some(t) = &f.tool {
                extra.push(format!("tool {t}"));
            }
            if let Some(p) = f.provider {
                extra.push(p.to_owned());
            }
            let extra = if extra.is_empty() {
                String::new()
            } else {
                format!(" [{}]", extra.join(", "))
            };
            s += &format!("          {}  {}{extra}\n", place(f, home), f.hint);
        }
        for k in &c.skipped {
            s += &format!("          {}: {}\n", show(&k.file, home), k.reason);
        }
        for n in &c.notes {
            s += &format!("          note: {n}\n");
        }
        if c.status != Status::Ok {
            if let Some(fix) = &c.fix {
                s += &format!("          fix: {fix}\n");
            }
        }
    }
    let count = |st| r.checks.iter().filter(|c| c.status == st).count();
    s += &format!(
        "{} OK, {} WARN, {} FAIL\n",
        count(Status::Ok),
        count(Status::Warn),
        count(Status::Fail)
    );
    // Notes and reasons quote paths too.
    escape_lines(&s).into_owned()
}

/// The JSON report.
pub fn report_json(r: &Report) -> String {
    #[derive(Serialize)]
    struct J<'a> {
        ok: bool,
        status: Status,
        checks: &'a [crate::Check],
    }
    let j = J {
        ok: r.worst() == Status::Ok,
        status: r.worst(),
        checks: &r.checks,
    };
    serde_json::to_string_pretty(&j).unwrap_or_else(|_| "{}".into()) + "\n"
}

fn skip_text(k: &FixSkip, home: &Path) -> String {
    let mut at = k
        .file
        .as_deref()
        .map_or("environment".to_owned(), |p| show(p, home));
    if let Some(l) = k.line {
        at += &format!(":{l}");
    }
    format!("  {at} {}: {}\n", k.what, k.reason)
}

/// The dry run (`outcomes` = None) or the result of `--fix --yes`.
pub fn fix_text(plan: &Plan, outcomes: Option<&[Outcome]>, home: &Path) -> String {
    let mut s = String::new();
    match outcomes {
        None if plan.files.is_empty() => s += "doctor --fix: nothing to move.\n",
        None => s += "doctor --fix: dry run, nothing was changed; add --yes to apply:\n",
        Some(_) => s += "doctor --fix:\n",
    }
    for (i, fp) in plan.files.iter().enumerate() {
        s += &format!("{}\n", show(&fp.path, home));
        for c in &fp.changes {
            s += &format!("  - {c}\n");
        }
        if let Some(o) = outcomes.and_then(|o| o.get(i)) {
            s += &match o {
                Outcome::Applied {
                    written,
                    backup,
                    sessions,
                    ..
                } => format!(
                    "  done: stored session{} {}; changed {} (backup: {})\n",
                    if sessions.len() == 1 { "" } else { "s" },
                    sessions.join(", "),
                    show(written, home),
                    show(backup, home)
                ),
                Outcome::Refused { message, .. } => {
                    format!("  not changed: the vault refused: {message}\n")
                }
                Outcome::NotAttempted { .. } => {
                    "  not changed: not attempted after the vault refused\n".into()
                }
                Outcome::Changed { .. } => {
                    "  not changed: the file changed while doctor ran; run it again\n".into()
                }
                Outcome::Failed { message, .. } => format!("  failed: {message}\n"),
            };
        }
    }
    if !plan.skips.is_empty() {
        s += "Left as they are:\n";
        for k in &plan.skips {
            s += &skip_text(k, home);
        }
    }
    let backup_dir = outcomes.into_iter().flatten().find_map(|o| match o {
        Outcome::Applied { backup, .. } => backup.parent(),
        _ => None,
    });
    if let Some(dir) = backup_dir {
        s += &format!(
            "The backups (owner-only, listed in {}) still hold the keys: delete them once the rewritten files work.\n",
            show(&dir.join(sv_fs::INDEX), home)
        );
    }
    // Changes, reasons and messages quote paths too.
    escape_lines(&s).into_owned()
}

/// The JSON form of a dry run or of an applied fix.
pub fn fix_json(plan: &Plan, outcomes: Option<&[Outcome]>) -> String {
    #[derive(Serialize)]
    struct File<'a> {
        file: &'a Path,
        changes: &'a [String],
        #[serde(skip_serializing_if = "Option::is_none")]
        outcome: Option<&'a Outcome>,
    }
    #[derive(Serialize)]
    struct J<'a> {
        dry_run: bool,
        files: Vec<File<'a>>,
        skipped: &'a [FixSkip],
    }
    let j = J {
        dry_run: outcomes.is_none(),
        files: plan
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| File {
                file: &f.path,
                changes: &f.changes,
                outcome: outcomes.and_then(|o| o.get(i)),
            })
            .collect(),
        skipped: &plan.skips,
    };
    serde_json::to_string_pretty(&j).unwrap_or_else(|_| "{}".into()) + "\n"
}
