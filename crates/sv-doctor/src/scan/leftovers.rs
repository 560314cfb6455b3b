//! Keys that agents and shells leave behind: Claude Code transcripts
//! (`~/.claude/projects/**/*.jsonl`), Codex shell snapshots
//! (`$CODEX_HOME/shell_snapshots/`), shell histories (bash, zsh, fish), and
//! session-vault's own backups (`doctor --fix`'s under the data directory,
//! `integrate`'s beside the settings file). These files are streamed
//! ([`crate::stream`]), never read whole, and scanned on every core.

use super::places::list_dir;
use super::Inputs;
use crate::formats::mask;
use crate::read::SkipReason;
use crate::stream::Matcher;
use crate::{Check, Finding, JsonLoc, Skipped, Source, SourceKind, Status};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use sv_core::SecretString;

/// Where the leftovers are, beyond [`Inputs`].
pub struct LeftoverInputs {
    /// `$XDG_DATA_HOME`, else `~/.local/share` (fish history).
    pub data_home: PathBuf,
    /// `$HISTFILE`, when set.
    pub histfile: Option<PathBuf>,
    /// Directories of session-vault's own backups, searched whole.
    pub backup_dirs: Vec<PathBuf>,
}

/// The name suffix of `integrate`'s backups.
pub const INTEGRATE_BACKUP: &str = ".session-vault-backup";

/// One leftover file, as listed and as resolved when it was listed.
pub struct LeftoverFile {
    /// `path` is the file as the user knows it (`~/.bash_history`).
    pub source: Source,
    /// The file itself: every symbolic link on the way resolved when the
    /// file was listed, which is when the fix is planned. Reading and
    /// redacting go through this path's opened directory, never again
    /// through a link (docs/doctor.md).
    pub target: PathBuf,
}

/// One leftover file with keys in it.
pub struct Leftover {
    pub source: Source,
    /// See [`LeftoverFile::target`].
    pub target: PathBuf,
    /// The file as it was scanned; a file that is not this one any more
    /// is not redacted.
    pub stamp: sv_fs::FileStamp,
    /// One finding per distinct key, at its first line.
    pub findings: Vec<Finding>,
    /// Occurrences of all its keys.
    pub occurrences: usize,
}

/// Every leftover file that exists, with its kind.
pub fn leftover_files(inp: &Inputs, lo: &LeftoverInputs) -> Vec<LeftoverFile> {
    let file = |(path, target): (PathBuf, PathBuf), kind| LeftoverFile {
        source: Source {
            path,
            kind,
            project: None,
        },
        target,
    };
    let mut v = Vec::new();
    for p in walk_resolved(&inp.home.join(".claude/projects")) {
        if p.0.extension().is_some_and(|e| e == "jsonl") {
            v.push(file(p, SourceKind::Transcript));
        }
    }
    for p in list_resolved(&inp.codex_home.join("shell_snapshots"), |_| true) {
        v.push(file(p, SourceKind::ShellSnapshot));
    }
    let mut histories = vec![
        inp.home.join(".bash_history"),
        inp.home.join(".zsh_history"),
        inp.home.join(".histfile"),
        lo.data_home.join("fish/fish_history"),
    ];
    histories.extend(lo.histfile.clone());
    for p in histories {
        if p.symlink_metadata().is_err() {
            continue;
        }
        let target = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
        // `$HISTFILE` is often one of the others, or a link to one.
        if !v
            .iter()
            .any(|f: &LeftoverFile| f.source.path == p || f.target == target)
        {
            v.push(file((p, target), SourceKind::History));
        }
    }
    for d in &lo.backup_dirs {
        for p in walk_resolved(d) {
            v.push(file(p, SourceKind::Backup));
        }
    }
    for dir in [inp.home.join(".claude"), inp.cwd.join(".claude")] {
        for p in list_resolved(&dir, |n| n.ends_with(INTEGRATE_BACKUP)) {
            if !v.iter().any(|f: &LeftoverFile| f.source.path == p.0) {
                v.push(file(p, SourceKind::Backup));
            }
        }
    }
    v
}

/// The regular files below `dir` (not following links below it), each as
/// (path under `dir`, path under `dir` resolved once).
fn walk_resolved(dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let Ok(real) = std::fs::canonicalize(dir) else {
        return Vec::new();
    };
    walk_files(&real)
        .into_iter()
        .filter_map(|t| Some((dir.join(t.strip_prefix(&real).ok()?), t)))
        .collect()
}

/// The entries of `dir` that `keep` names, each as (path under `dir`, the
/// entry resolved: in `dir` resolved once, a link followed to its target).
fn list_resolved(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<(PathBuf, PathBuf)> {
    let Ok(real) = std::fs::canonicalize(dir) else {
        return Vec::new();
    };
    list_dir(&real, keep)
        .into_iter()
        .filter_map(|t| {
            let shown = dir.join(t.file_name()?);
            let link = t.symlink_metadata().ok()?.file_type().is_symlink();
            let target = match link {
                true => std::fs::canonicalize(&t).unwrap_or(t),
                false => t,
            };
            Some((shown, target))
        })
        .collect()
}

/// Regular files below `dir`, not following links.
fn walk_files(dir: &Path) -> Vec<PathBuf> {
    if !dir.is_dir() {
        return Vec::new();
    }
    let mut wb = ignore::WalkBuilder::new(dir);
    wb.standard_filters(false).follow_links(false);
    let mut v: Vec<PathBuf> = wb
        .build()
        .flatten()
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .map(|e| e.into_path())
        .collect();
    v.sort();
    v
}

/// Scans `files` on every core; returns the files with keys (in the order
/// given) and those that could not be read.
pub fn scan_files(
    files: &[LeftoverFile],
    m: &Matcher,
    det: &crate::Detector,
) -> (Vec<Leftover>, Vec<Skipped>) {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<Leftover, SkipReason>)>> = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(src) = files.get(i) else { break };
                let r = scan_one(src, m, det);
                if let Ok(mut g) = results.lock() {
                    g.push((i, r));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(i, _)| *i);
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    for (i, r) in results {
        match r {
            Ok(l) if l.findings.is_empty() => {}
            Ok(l) => found.push(l),
            // A directory, a device (a history linked to /dev/null, the
            // usual way to keep none) or a FIFO holds no key left behind.
            Err(SkipReason::NotRegular) => {}
            Err(reason) => skipped.push(Skipped {
                file: files[i].source.path.clone(),
                reason,
            }),
        }
    }
    (found, skipped)
}

/// Streams one file, read through its resolved path's opened directory.
pub fn scan_one(
    lf: &LeftoverFile,
    m: &Matcher,
    det: &crate::Detector,
) -> Result<Leftover, SkipReason> {
    let src = &lf.source;
    let unreadable = |e: std::io::Error| SkipReason::Unreadable(e.kind().to_string());
    let meta = std::fs::metadata(&lf.target).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) {
            SkipReason::SymlinkLoop
        } else {
            unreadable(e)
        }
    })?;
    if !meta.is_file() {
        return Err(SkipReason::NotRegular);
    }
    let (dir, name) = sv_fs::Dir::of_file(&lf.target).map_err(unreadable)?;
    let (mut f, stamp) = dir
        .open_read(name)
        .map_err(unreadable)?
        .ok_or_else(|| unreadable(std::io::ErrorKind::NotFound.into()))?;
    let mut findings: Vec<Finding> = Vec::new();
    let mut by_value: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut occurrences = 0;
    let mut offsets = Vec::new();
    m.scan_offsets(&mut f, |h| {
        occurrences += 1;
        let key = fast_hash(h.value.as_bytes());
        let known = by_value.entry(key).or_default();
        if known
            .iter()
            .any(|&i| findings[i].value.expose() == h.value.as_str())
        {
            return;
        }
        known.push(findings.len());
        offsets.push(h.offset);
        let tool = h
            .variable
            .as_deref()
            .and_then(|v| det.tool_of(v))
            .or_else(|| h.provider.and_then(|p| tool_of_provider(p.name)))
            .map(str::to_owned);
        findings.push(Finding {
            file: Some(src.path.clone()),
            line: Some(h.line),
            json_path: None,
            variable: h.variable,
            tool,
            provider: h.provider.map(|p| p.name),
            hint: mask(&h.value, h.provider),
            value: SecretString::from(h.value.as_str()),
            loc: JsonLoc::Other,
        });
    })
    .map_err(|e| SkipReason::Unreadable(e.kind().to_string()))?;
    // Lines are counted only in the files that hold a key.
    if !offsets.is_empty() {
        use std::io::Seek;
        f.rewind().map_err(unreadable)?;
        let lines = crate::stream::lines_at(&mut f, &offsets)
            .map_err(|e| SkipReason::Unreadable(e.kind().to_string()))?;
        for (f, l) in findings.iter_mut().zip(lines) {
            f.line = Some(l);
        }
    }
    Ok(Leftover {
        source: src.clone(),
        target: lf.target.clone(),
        stamp,
        findings,
        occurrences,
    })
}

fn fast_hash(b: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    b.hash(&mut h);
    h.finish()
}

/// The built-in tool whose variable a provider's keys go in.
pub fn tool_of_provider(provider: &str) -> Option<&'static str> {
    match provider {
        "anthropic" | "anthropic-admin" => Some("claude"),
        "openai" | "openai-legacy" => Some("codex"),
        "google" => Some("gemini"),
        _ => None,
    }
}

fn kind_name(k: SourceKind) -> &'static str {
    match k {
        SourceKind::Transcript => "a Claude Code transcript",
        SourceKind::ShellSnapshot => "a Codex shell snapshot",
        SourceKind::History => "a shell history",
        _ => "a session-vault backup",
    }
}

/// "is a backup of FILE (by WHAT, at TIME)", from the index's entry.
fn backup_origin(e: &sv_fs::BackupEntry) -> String {
    let mut s = match &e.original {
        Some(o) => format!("is a session-vault backup of {}", o.display()),
        None => "is a session-vault backup of a file its index does not name".to_owned(),
    };
    let by = (!e.by.is_empty()).then(|| format!("by {}", e.by));
    let at = (!e.time.is_empty()).then(|| format!("at {}", e.time));
    let when: Vec<String> = by.into_iter().chain(at).collect();
    if !when.is_empty() {
        s += &format!(" ({})", when.join(", "));
    }
    s
}

/// Whether `path` lies directly in one of the backup directories.
fn in_backup_dir(path: &Path, lo: &LeftoverInputs) -> bool {
    lo.backup_dirs
        .iter()
        .any(|d| path.parent() == Some(d.as_path()))
}

/// The check over every leftover file, and the files with keys (for
/// `--fix`, which redacts transcripts, snapshots and histories).
pub fn scan_leftovers(inp: &Inputs, lo: &LeftoverInputs) -> (Check, Vec<Leftover>) {
    let files = leftover_files(inp, lo);
    let m = Matcher::new(&inp.detector);
    let (found, skipped) = scan_files(&files, &m, &inp.detector);
    let title = "Keys left behind (transcripts, shell histories, snapshots, backups)";
    let mut c = Check::new("leftovers", title, Status::Ok, "");
    c.skipped = skipped;
    let keys: usize = found.iter().map(|l| l.findings.len()).sum();
    let mut fixes = Vec::new();
    if keys == 0 {
        c.summary = format!(
            "no plaintext keys in {} file{}",
            files.len(),
            super::plural(files.len())
        );
    } else {
        c.status = Status::Warn;
        c.summary = format!(
            "{keys} plaintext key{} in {} file{}",
            super::plural(keys),
            found.len(),
            super::plural(found.len())
        );
        // What the backup directories' index.jsonl says of each backup.
        let index: HashMap<PathBuf, sv_fs::BackupEntry> = lo
            .backup_dirs
            .iter()
            .flat_map(|d| sv_fs::Backups::list(d))
            .map(|e| (e.path.clone(), e))
            .collect();
        for l in &found {
            let what = match (l.source.kind, index.get(&l.source.path)) {
                (SourceKind::Backup, Some(e)) if e.indexed => backup_origin(e),
                (SourceKind::Backup, _) if in_backup_dir(&l.source.path, lo) => format!(
                    "is in session-vault's backup directory but not in its {}, so where it came from is unknown",
                    sv_fs::INDEX
                ),
                (kind, _) => format!("is {}", kind_name(kind)),
            };
            c.notes.push(format!(
                "{} {what}, and holds {} key{} ({} occurrence{})",
                l.source.path.display(),
                l.findings.len(),
                super::plural(l.findings.len()),
                l.occurrences,
                super::plural(l.occurrences)
            ));
        }
        if found.iter().any(|l| l.source.kind != SourceKind::Backup) {
            fixes.push("run `session-vault doctor --fix` to move them into the vault and redact them (each line is kept, the key replaced by the session it moved to)".to_owned());
        }
        if found.iter().any(|l| l.source.kind == SourceKind::Backup) {
            fixes.push(
                "delete the backups that still hold keys once the rewritten files work (the notes say which file each one is a copy of)".to_owned(),
            );
        }
        c.findings = found
            .iter()
            .flat_map(|l| l.findings.iter().cloned())
            .collect();
    }
    if !c.skipped.is_empty() {
        c.status = Status::Warn;
        let k = c.skipped.len();
        c.summary += &format!("; {k} file{} could not be checked", super::plural(k));
        fixes.push("make the files named above readable, or remove them".to_owned());
    }
    if !fixes.is_empty() {
        c.fix = Some(fixes.join("; "));
    }
    (c, found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::samples::*;
    use crate::scan::{scan_all, Inputs};
    use crate::Detector;
    use sv_core::ToolTable;

    fn inputs(home: &Path) -> (Inputs, LeftoverInputs) {
        let cwd = home.join("proj");
        std::fs::create_dir_all(&cwd).unwrap();
        (
            Inputs {
                home: home.to_owned(),
                config_home: home.join(".config"),
                codex_home: home.join(".codex"),
                cwd,
                recursive: false,
                detector: Detector::new(ToolTable::builtin()),
                env: Vec::new(),
            },
            LeftoverInputs {
                data_home: home.join(".local/share"),
                histfile: None,
                backup_dirs: vec![home.join(".local/share/session-vault/backups")],
            },
        )
    }

    fn put(p: &Path, text: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// (file name, line, variable) of each finding.
    fn found(c: &Check) -> Vec<(String, usize, Option<String>)> {
        c.findings
            .iter()
            .map(|f| {
                let p = f.file.as_ref().unwrap();
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    f.line.unwrap(),
                    f.variable.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn every_leftover_source_is_found_by_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        let h = d.path();
        let (inp, lo) = inputs(h);
        let (a, o, g, op) = (anthropic(1), openai_proj(2), google(3), opaque(4));
        put(
            &h.join(".claude/projects/-home-u-proj/0b4c.jsonl"),
            &format!("{{\"type\":\"user\"}}\n{{\"toolUseResult\":{{\"stdout\":\"PATH=/bin\\nANTHROPIC_API_KEY={a}\\n\"}}}}\n{{\"again\":\"{a}\"}}\n"),
        );
        put(
            &h.join(".claude/projects/-home-u-other/sub/agent-1.jsonl"),
            &format!("{{\"x\":1}}\n{{\"x\":2}}\n{{\"env\":\"CURSOR_API_KEY={op}\"}}\n"),
        );
        put(
            &h.join(".codex/shell_snapshots/snapshot_1.sh"),
            &format!("# Snapshot file\nunset -f x\ndeclare -x HOME=\"/home/u\"\ndeclare -x OPENAI_API_KEY=\"{o}\"\n"),
        );
        put(
            &h.join(".bash_history"),
            &format!("ls\nexport GEMINI_API_KEY={g}\n"),
        );
        put(
            &h.join(".zsh_history"),
            &format!(": 1700000000:0;cd /tmp\n: 1700000001:0;export CURSOR_API_KEY='{op}'\n"),
        );
        put(
            &h.join(".local/share/fish/fish_history"),
            &format!("- cmd: ls\n  when: 1700000000\n- cmd: set -gx ANTHROPIC_API_KEY {a}\n  when: 1700000001\n"),
        );
        put(
            &h.join(".local/share/session-vault/backups/20261202T050000Z-.bashrc"),
            &format!("export PATH=/bin\nexport CURSOR_API_KEY={op}\n"),
        );
        put(
            &h.join(".claude/settings.json.session-vault-backup"),
            &format!("{{\n  \"env\": {{\n    \"ANTHROPIC_API_KEY\": \"{a}\"\n  }}\n}}\n"),
        );
        let (c, left) = scan_leftovers(&inp, &lo);
        assert_eq!(c.status, Status::Warn);
        let mut f = found(&c);
        f.sort();
        let var = |s: &str| Some(s.to_owned());
        assert_eq!(
            f,
            vec![
                (".bash_history".into(), 2, var("GEMINI_API_KEY")),
                (".zsh_history".into(), 2, var("CURSOR_API_KEY")),
                ("0b4c.jsonl".into(), 2, var("ANTHROPIC_API_KEY")),
                ("20261202T050000Z-.bashrc".into(), 2, var("CURSOR_API_KEY")),
                ("agent-1.jsonl".into(), 3, var("CURSOR_API_KEY")),
                ("fish_history".into(), 3, var("ANTHROPIC_API_KEY")),
                (
                    "settings.json.session-vault-backup".into(),
                    3,
                    var("ANTHROPIC_API_KEY")
                ),
                ("snapshot_1.sh".into(), 4, var("OPENAI_API_KEY")),
            ]
        );
        let transcript = left
            .iter()
            .find(|l| l.source.path.ends_with("0b4c.jsonl"))
            .unwrap();
        assert_eq!(transcript.occurrences, 2);
        assert_eq!(transcript.findings[0].tool.as_deref(), Some("claude"));
        // Never the key itself.
        let shown = serde_json::to_string(&c).unwrap() + &format!("{c:?}");
        for k in [&a, &o, &g, &op] {
            assert!(!shown.contains(k.as_str()));
        }
    }

    #[test]
    fn agent_configs_claude_state_permissions_npmrc_aider_gemini() {
        let d = tempfile::tempdir().unwrap();
        let h = d.path();
        let (inp, _) = inputs(h);
        let (a, o, g, n) = (
            anthropic(5),
            openai_legacy(6),
            google(7),
            format!("npm_{}", &opaque(8)[5..41]),
        );
        let odd = format!("{}-{}", "legacy", &opaque(9)[5..30]);
        put(
            &h.join(".claude.json"),
            &format!("{{\n  \"numStartups\": 3,\n  \"primaryApiKey\": \"{odd}\"\n}}\n"),
        );
        put(
            &inp.cwd.join(".claude/settings.local.json"),
            &format!("{{\n  \"permissions\": {{\n    \"allow\": [\n      \"Bash(OPENAI_API_KEY={o} codex exec:*)\",\n      \"Bash(curl -H 'x-api-key: {a}' https://api.anthropic.com:*)\"\n    ]\n  }}\n}}\n"),
        );
        put(
            &h.join(".npmrc"),
            &format!(
                "registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken={n}\n"
            ),
        );
        put(
            &inp.cwd.join(".aider.conf.yml"),
            &format!("model: sonnet\nanthropic-api-key: {a}\napi-key:\n  - gemini={g}\n"),
        );
        put(&h.join(".gemini/.env"), &format!("GEMINI_API_KEY={g}\n"));
        let (checks, _) = scan_all(&inp);
        let c = checks.iter().find(|c| c.id == "agent-configs").unwrap();
        let mut f: Vec<(String, usize, Option<String>, Option<String>)> = c
            .findings
            .iter()
            .map(|f| {
                (
                    f.file
                        .as_ref()
                        .unwrap()
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                    f.line.unwrap(),
                    f.variable.clone(),
                    f.json_path.clone(),
                )
            })
            .collect();
        f.sort();
        let s = |x: &str| Some(x.to_owned());
        assert_eq!(
            f,
            vec![
                (".aider.conf.yml".into(), 2, s("anthropic-api-key"), None),
                (".aider.conf.yml".into(), 4, None, None),
                (
                    ".claude.json".into(),
                    3,
                    s("primaryApiKey"),
                    s("primaryApiKey")
                ),
                (".env".into(), 1, s("GEMINI_API_KEY"), None),
                (".npmrc".into(), 2, s("_authToken"), None),
                (
                    "settings.local.json".into(),
                    4,
                    s("OPENAI_API_KEY"),
                    s("permissions.allow[0]")
                ),
                (
                    "settings.local.json".into(),
                    5,
                    None,
                    s("permissions.allow[1]")
                ),
            ]
        );
    }

    /// `ln -sf /dev/null ~/.bash_history` is the usual way to keep no
    /// history: it is not a file that "could not be checked", nor is a FIFO.
    #[cfg(unix)]
    #[test]
    fn a_history_linked_to_dev_null_or_a_fifo_is_skipped_quietly() {
        let d = tempfile::tempdir().unwrap();
        let h = d.path();
        let (inp, lo) = inputs(h);
        std::os::unix::fs::symlink("/dev/null", h.join(".bash_history")).unwrap();
        let fifo = std::ffi::CString::new(h.join(".zsh_history").to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a path we own, NUL-terminated.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        put(&h.join(".local/share/fish/fish_history"), "- cmd: ls\n");
        let (c, found) = scan_leftovers(&inp, &lo);
        assert_eq!(c.status, Status::Ok, "{c:?}");
        assert!(c.skipped.is_empty(), "{:?}", c.skipped);
        assert!(!c.summary.contains("could not be checked"), "{}", c.summary);
        assert!(found.is_empty());
        // A history that cannot be read is still reported.
        put(&h.join(".histfile"), "ls\n");
        std::fs::set_permissions(
            h.join(".histfile"),
            std::os::unix::fs::PermissionsExt::from_mode(0o000),
        )
        .unwrap();
        if std::fs::File::open(h.join(".histfile")).is_err() {
            let (c, _) = scan_leftovers(&inp, &lo);
            assert_eq!(c.skipped.len(), 1, "{:?}", c.skipped);
            assert!(
                c.summary.contains("1 file could not be checked"),
                "{}",
                c.summary
            );
        }
    }

    /// docs/doctor.md, check 10: doctor reads the backup directory's
    /// index.jsonl to say which file each backup that still holds a key is
    /// a copy of, and what wrote it; a file the index does not name is said
    /// to be of unknown origin; an entry whose file was deleted (as the fix
    /// advises) is not reported.
    #[test]
    fn backups_are_named_by_their_index_entry() {
        let d = tempfile::tempdir().unwrap();
        let h = d.path();
        let (inp, lo) = inputs(h);
        let dir = lo.backup_dirs[0].clone();
        let (a, op) = (anthropic(11), opaque(12));
        let store = sv_fs::Backups::new(dir.clone(), "20261202T050000Z");
        let env_backup = store
            .save(
                &h.join("proj/.env"),
                format!("ANTHROPIC_API_KEY={a}\n").as_bytes(),
                "doctor --fix",
            )
            .unwrap();
        let deleted = store
            .save(&h.join("proj/.bashrc"), b"export X=1\n", "integrate")
            .unwrap();
        std::fs::remove_file(&deleted).unwrap();
        let clean = store
            .save(&h.join(".zshrc"), b"export PATH=/bin\n", "doctor --fix")
            .unwrap();
        put(&dir.join("dropped-here"), &format!("CURSOR_API_KEY={op}\n"));
        let (c, _) = scan_leftovers(&inp, &lo);
        assert_eq!(c.status, Status::Warn);
        let notes = c.notes.join("\n");
        assert_eq!(c.notes.len(), 2, "{notes}");
        assert!(
            notes.contains(&format!(
                "{} is a session-vault backup of {} (by doctor --fix, at 20261202T050000Z), and holds 1 key",
                env_backup.display(),
                h.join("proj/.env").display()
            )),
            "{notes}"
        );
        assert!(
            notes.contains(&format!(
                "{} is in session-vault's backup directory but not in its index.jsonl, so where it came from is unknown, and holds 1 key",
                dir.join("dropped-here").display()
            )),
            "{notes}"
        );
        assert!(!notes.contains(".bashrc") && !notes.contains(&clean.display().to_string()));
        assert!(c.fix.unwrap().contains("which file each one is a copy of"));
    }

    /// `$HISTFILE` naming a history already listed, or a link to one, is
    /// the same file: it is scanned and redacted once, not reported twice
    /// (a second redaction would find the file changed by the first).
    #[cfg(unix)]
    #[test]
    fn a_histfile_that_is_another_history_is_listed_once() {
        let d = tempfile::tempdir().unwrap();
        let h = d.path();
        let (inp, mut lo) = inputs(h);
        put(
            &h.join(".zsh_history"),
            &format!("export ANTHROPIC_API_KEY={}\n", anthropic(13)),
        );
        std::os::unix::fs::symlink(h.join(".zsh_history"), h.join(".hist-link")).unwrap();
        for histfile in [h.join(".zsh_history"), h.join(".hist-link")] {
            lo.histfile = Some(histfile);
            let (c, found) = scan_leftovers(&inp, &lo);
            assert_eq!(found.len(), 1, "{:?}", c.notes);
            assert_eq!(found[0].source.path, h.join(".zsh_history"));
        }
    }
}
