//! Working out the rewrites: which keys go to which (tool, scope), which
//! lines and JSON places change, and what is left with a hint. Reads, never
//! writes.

use super::group::Group;
use super::json::json_edit;
use super::shell::{self, LineEdit};
use super::{skip, FilePlan, FixOptions, FixSkip, Plan, StoreRequest};
use crate::read::read_candidate;
use crate::scan::{scan_text, SecretJson};
use crate::{Detector, Finding, JsonLoc, Report, Source, SourceKind};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use zeroize::Zeroizing;

/// A source read for planning.
struct Read {
    src: Source,
    bytes: Zeroizing<Vec<u8>>,
    findings: Vec<Finding>,
}

/// Works out every rewrite, reading each source afresh. Changes nothing.
pub fn plan(report: &Report, det: &Detector, opts: &FixOptions) -> Plan {
    let mut plan = Plan::default();
    for c in &report.checks {
        for f in c.findings.iter().filter(|f| f.file.is_none()) {
            plan.skips.push(skip(
                f,
                format!(
                    "set in the environment, not in a file doctor knows; unset {} and find where it is exported",
                    f.variable.as_deref().unwrap_or("it")
                ),
            ));
        }
    }
    let mut read = Vec::new();
    for src in &report.sources {
        let text = match read_candidate(&src.path) {
            Ok(Some(t)) => t,
            Ok(None) => continue,
            Err(r) => {
                plan.skips.push(FixSkip {
                    file: Some(src.path.clone()),
                    line: None,
                    what: "the file".into(),
                    reason: r.to_string(),
                });
                continue;
            }
        };
        let findings: Vec<Finding> = scan_text(&text.text(), src.kind, det)
            .0
            .into_iter()
            .map(|mut f| {
                f.file = Some(src.path.clone());
                f
            })
            .collect();
        if !text.utf8 {
            for f in &findings {
                plan.skips
                    .push(skip(f, "the file is not UTF-8; move the key by hand"));
            }
            continue;
        }
        read.push(Read {
            src: src.clone(),
            bytes: text.bytes,
            findings,
        });
    }
    let clashes = clashes(&read, det, opts);
    for r in &read {
        plan_file(
            &r.src,
            &r.bytes,
            &r.findings,
            det,
            opts,
            &clashes,
            &mut plan,
        );
    }
    plan
}

/// The (tool, scope) a key from `src` is stored under.
type Slot = (String, Option<PathBuf>);

fn scope_of(src: &Source, opts: &FixOptions) -> Option<PathBuf> {
    src.project.clone().or_else(|| opts.home_project.clone())
}

/// The (tool, scope) slots that two different keys would fill: doctor
/// never merges them into one session (one consumer would run with the
/// other's key), so every key for such a slot is left with a hint.
fn clashes(read: &[Read], det: &Detector, opts: &FixOptions) -> BTreeMap<Slot, Vec<String>> {
    let mut seen: BTreeMap<Slot, Vec<(Zeroizing<String>, String)>> = BTreeMap::new();
    for r in read {
        for f in &r.findings {
            let (Some(tool), Some(var)) = (&f.tool, &f.variable) else {
                continue;
            };
            if det.tools.vars(tool).is_none() {
                continue;
            }
            let at = match (&f.json_path, f.line) {
                (Some(p), _) => format!("{} {p}", r.src.path.display()),
                (None, Some(l)) => format!("{}:{l}", r.src.path.display()),
                (None, None) => r.src.path.display().to_string(),
            };
            let value = Zeroizing::new(format!("{var}={}", f.value.expose()));
            seen.entry((tool.clone(), scope_of(&r.src, opts)))
                .or_default()
                .push((value, at));
        }
    }
    seen.into_iter()
        .filter_map(|(slot, keys)| {
            // Two different values for one variable of the tool.
            let mut by_var: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
            for (v, _) in &keys {
                let (var, val) = v.split_once('=').unwrap_or((v, ""));
                by_var.entry(var).or_default().insert(val);
            }
            by_var
                .values()
                .any(|vals| vals.len() > 1)
                .then(|| (slot, keys.into_iter().map(|(_, at)| at).collect()))
        })
        .collect()
}

fn plan_file(
    src: &Source,
    bytes: &[u8],
    findings: &[Finding],
    det: &Detector,
    opts: &FixOptions,
    clashes: &BTreeMap<Slot, Vec<String>>,
    plan: &mut Plan,
) {
    let text = String::from_utf8_lossy(bytes);
    // Shell files: only a line that is one assignment at the top level of
    // the file may change (docs/design.md §12).
    let movable = match src.kind {
        SourceKind::Profile(d) => Some(shell::movable_lines(&text, d)),
        _ => None,
    };
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut blocked: Vec<usize> = Vec::new();
    for f in findings {
        let Some(tool) = f.tool.clone() else {
            let reason = match &f.variable {
                Some(v) if sv_core::tools::valid_var_name(v) => format!(
                    "no tool uses {v}; add `[tools.NAME]` with `vars = [\"{v}\"]` to {} and run again",
                    opts.config_file.display()
                ),
                _ => "the key is not in a variable doctor can move; remove it by hand and load it with `session-vault exec`".into(),
            };
            plan.skips.push(skip(f, reason));
            blocked.extend(f.line);
            continue;
        };
        if let (Some(movable), Some(line)) = (&movable, f.line) {
            if !movable.contains(&line) {
                plan.skips.push(skip(f, format!(
                    "line {line} is not a single assignment at the top level of the file (it is inside an `if`, a function or a loop, or shares its line with other commands), so doctor does not edit it: delete the key there by hand and load it with `sv_load {tool}`"
                )));
                blocked.push(line);
                continue;
            }
        }
        let server = match (&src.kind, &f.loc) {
            (SourceKind::Profile(_) | SourceKind::DotEnv, _) => None,
            (SourceKind::ClaudeSettings, JsonLoc::ClaudeEnv(_)) => None,
            (SourceKind::CodexAuth, JsonLoc::TopLevel(_)) => None,
            (_, JsonLoc::McpEnv { server, .. }) => Some(server.clone()),
            (SourceKind::CodexConfig, _) => {
                plan.skips.push(skip(
                    f,
                    format!("doctor does not rewrite TOML: delete it from the file by hand, then run Codex with `session-vault exec --tool {tool} -- codex`"),
                ));
                continue;
            }
            _ => {
                plan.skips.push(skip(
                    f,
                    "doctor does not know how to rewrite this place; move the key by hand",
                ));
                continue;
            }
        };
        if let Some(places) = clashes.get(&(tool.clone(), scope_of(src, opts))) {
            let scope = scope_of(src, opts).map_or("global scope".to_owned(), |p| {
                format!("project {}", p.display())
            });
            plan.skips.push(skip(
                f,
                format!(
                    "two different keys for tool `{tool}` in the {scope} ({}); doctor does not merge them into one session: keep one there, or give the other a tool of its own in {} and run again",
                    places.join(", "),
                    opts.config_file.display()
                ),
            ));
            blocked.extend(f.line);
            continue;
        }
        match groups
            .iter_mut()
            .find(|g| g.tool == tool && g.server == server)
        {
            Some(g) => g.findings.push(f),
            None => groups.push(Group {
                tool,
                server,
                findings: vec![f],
            }),
        }
    }
    let line_based = matches!(src.kind, SourceKind::Profile(_) | SourceKind::DotEnv);
    for g in &groups {
        let complete = det.tools.vars(&g.tool).is_some_and(|vars| {
            vars.iter()
                .all(|v| g.findings.iter().any(|f| f.variable.as_deref() == Some(v)))
        });
        if !complete {
            blocked.extend(g.findings.iter().filter_map(|f| f.line));
        }
    }
    // A project file that is a symlink out of its project (a cloned repo's
    // `.env` pointing at ~/.bashrc, say) is never rewritten: its keys would
    // be scoped to the wrong place and the wrong file edited.
    let target = std::fs::canonicalize(&src.path).unwrap_or_else(|_| src.path.clone());
    if let Some(proj) = &src.project {
        let root = std::fs::canonicalize(proj).unwrap_or_else(|_| proj.clone());
        if !target.starts_with(&root) {
            for g in &groups {
                for f in &g.findings {
                    plan.skips.push(skip(
                        f,
                        format!(
                            "{} leads outside the project (to {}); move this key by hand",
                            src.path.display(),
                            target.display()
                        ),
                    ));
                }
            }
            return;
        }
    }
    let project = scope_of(src, opts);
    let scope_name = project
        .as_ref()
        .map_or("global".to_owned(), |p| format!("project {}", p.display()));
    let mut edit = Edit::new(src.kind, &text);
    let mut stores = Vec::new();
    let mut changes = Vec::new();
    for g in &groups {
        let Some(vars) = det.tools.vars(&g.tool) else {
            continue;
        };
        let mut values = Vec::new();
        let mut missing = Vec::new();
        for var in vars {
            match g
                .findings
                .iter()
                .find(|f| f.variable.as_deref() == Some(var))
            {
                Some(f) => values.push((var.clone(), f.value.clone())),
                None => missing.push(var.as_str()),
            }
        }
        if !missing.is_empty() {
            for f in &g.findings {
                plan.skips.push(skip(
                    f,
                    format!("tool `{}` needs {}; {} not set here, so add it with `session-vault add --tool {}`", g.tool, vars.join(", "), missing.join(", "), g.tool),
                ));
            }
            continue;
        }
        if line_based
            && g.findings
                .iter()
                .any(|f| f.line.is_some_and(|l| blocked.contains(&l)))
        {
            for f in &g.findings {
                plan.skips.push(skip(
                    f,
                    "the same line holds another key doctor cannot move; edit the line by hand",
                ));
            }
            continue;
        }
        match edit.apply(g, opts) {
            Ok(mut lines) => changes.append(&mut lines),
            Err(reason) => {
                for f in &g.findings {
                    plan.skips.push(skip(f, reason.clone()));
                }
                continue;
            }
        }
        let at = g.findings[0]
            .json_path
            .clone()
            .or_else(|| g.findings[0].line.map(|l| format!("line {l}")))
            .unwrap_or_default();
        let mut label = format!("doctor --fix from {} {at}", src.path.display());
        if label.len() > 200 {
            let mut cut = 200;
            while !label.is_char_boundary(cut) {
                cut -= 1;
            }
            label.truncate(cut);
        }
        stores.push(StoreRequest {
            tool: g.tool.clone(),
            project: project.clone(),
            values,
            label,
        });
    }
    if stores.is_empty() {
        return;
    }
    let rewritten = match edit.finish(bytes) {
        Ok(r) => r,
        Err(reason) => {
            for f in findings {
                plan.skips.push(skip(f, reason.clone()));
            }
            return;
        }
    };
    let mut changes_with_scope: Vec<String> = stores
        .iter()
        .map(|s| {
            format!(
                "store {} for tool `{}` ({scope_name})",
                s.values
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                s.tool
            )
        })
        .collect();
    changes_with_scope.append(&mut changes);
    plan.files.push(FilePlan {
        path: src.path.clone(),
        target,
        original: Zeroizing::new(bytes.to_vec()),
        rewritten,
        stores,
        changes: changes_with_scope,
    });
}

/// The pending rewrite of one file's text.
enum Edit {
    Lines(LineEdit),
    Json(Option<SecretJson>),
}

impl Edit {
    fn new(kind: SourceKind, text: &str) -> Edit {
        match kind {
            SourceKind::Profile(_) => Edit::Lines(LineEdit::comment_out()),
            SourceKind::DotEnv => Edit::Lines(LineEdit::drop_lines()),
            _ => Edit::Json(serde_json::from_str(text).ok().map(SecretJson)),
        }
    }

    /// Records the rewrite for one group; `Err` (nothing recorded) when it
    /// cannot be done.
    fn apply(&mut self, g: &Group<'_>, opts: &FixOptions) -> Result<Vec<String>, String> {
        match self {
            Edit::Lines(l) => Ok(l.record(g, &opts.timestamp)),
            Edit::Json(None) => Err("the file is not valid JSON; move the key by hand".into()),
            Edit::Json(Some(root)) => {
                let mut scratch = SecretJson(root.0.clone());
                let lines = json_edit(&mut scratch.0, g)?;
                std::mem::swap(root, &mut scratch);
                Ok(lines)
            }
        }
    }

    fn finish(self, original: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
        match self {
            Edit::Lines(l) => Ok(l.finish(original)),
            Edit::Json(None) => Err("the file is not valid JSON; move the key by hand".into()),
            Edit::Json(Some(root)) => super::json::render(&root, original),
        }
    }
}
