//! JSON and TOML configs: every string is walked with its path
//! (`mcpServers.github.env.GITHUB_TOKEN`), judged by its key name and by key
//! formats; a file that does not parse is still searched for formats.

use super::{finding, format_findings, is_secret_value, judge, scan_each_line, secret_config_key};
use crate::formats::provider_of;
use crate::stream::assigned_value;
use crate::{Detector, Finding, JsonLoc, SourceKind};

/// 1-based line of the first occurrence of `needle` in `text`.
fn line_of(text: &str, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    text.find(needle)
        .map(|at| text[..at].bytes().filter(|b| *b == b'\n').count() + 1)
}

#[derive(Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

fn path_string(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k)
                if !k.is_empty()
                    && k.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
            {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Key(k) => s += &format!("[{}]", serde_json::Value::String(k.clone())),
            Seg::Index(i) => s += &format!("[{i}]"),
        }
    }
    s
}

fn classify(path: &[Seg], kind: SourceKind) -> JsonLoc {
    let keys: Vec<Option<&str>> = path
        .iter()
        .map(|s| match s {
            Seg::Key(k) => Some(k.as_str()),
            Seg::Index(_) => None,
        })
        .collect();
    match (kind, keys.as_slice()) {
        (SourceKind::ClaudeSettings, [Some("env"), Some(var)]) => {
            JsonLoc::ClaudeEnv((*var).to_owned())
        }
        (_, [Some("mcpServers"), Some(server), Some("env"), Some(var)]) => JsonLoc::McpEnv {
            server: (*server).to_owned(),
            var: (*var).to_owned(),
        },
        (SourceKind::CodexAuth, [Some(var)]) => JsonLoc::TopLevel((*var).to_owned()),
        _ => JsonLoc::Other,
    }
}

/// A parsed config tree, JSON or TOML, walked the same way.
#[derive(Clone, Copy)]
enum Tree<'a> {
    Json(&'a serde_json::Value),
    Toml(&'a toml::Value),
}

impl<'a> Tree<'a> {
    /// The string this node holds, if it is one.
    fn string(self) -> Option<&'a str> {
        match self {
            Tree::Json(serde_json::Value::String(s)) | Tree::Toml(toml::Value::String(s)) => {
                Some(s)
            }
            _ => None,
        }
    }

    /// The nodes under this one, each with its key or index.
    fn children(self) -> Vec<(Seg, Tree<'a>)> {
        match self {
            Tree::Json(serde_json::Value::Object(m)) => m
                .iter()
                .map(|(k, v)| (Seg::Key(k.clone()), Tree::Json(v)))
                .collect(),
            Tree::Json(serde_json::Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, v)| (Seg::Index(i), Tree::Json(v)))
                .collect(),
            Tree::Toml(toml::Value::Table(m)) => m
                .iter()
                .map(|(k, v)| (Seg::Key(k.clone()), Tree::Toml(v)))
                .collect(),
            Tree::Toml(toml::Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, v)| (Seg::Index(i), Tree::Toml(v)))
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn walk(
    tree: Tree<'_>,
    path: &mut Vec<Seg>,
    kind: SourceKind,
    text: &str,
    det: &Detector,
    out: &mut Vec<Finding>,
) {
    match tree.string() {
        Some(s) => leaf(s, path, kind, text, det, out),
        None => {
            for (seg, child) in tree.children() {
                path.push(seg);
                walk(child, path, kind, text, det, out);
                path.pop();
            }
        }
    }
}

/// The keys in one string of the tree, at `path`.
fn leaf(
    s: &str,
    path: &[Seg],
    kind: SourceKind,
    text: &str,
    det: &Detector,
    out: &mut Vec<Finding>,
) {
    // Where the finding stands: its path, line and place in the file.
    let placed = |mut f: Finding| {
        f.json_path = Some(path_string(path));
        f.line = line_of(text, f.value.expose());
        f.loc = classify(path, kind);
        f
    };
    let name = match path.last() {
        Some(Seg::Key(k)) => Some(k.as_str()),
        _ => None,
    };
    if let Some(provider) = name.and_then(|n| judge(det, n, s)) {
        out.push(placed(finding(det, name, s, provider)));
        return;
    }
    // `primaryApiKey` in `~/.claude.json`, and the like.
    if let Some(tool) = name.and_then(secret_config_key) {
        if is_secret_value(s) {
            let mut f = finding(det, None, s, provider_of(s));
            f.variable = name.map(str::to_owned);
            f.tool = tool.map(str::to_owned);
            out.push(placed(f));
            return;
        }
    }
    let first = out.len();
    // A tool's variable set inside a string: a permission rule such as
    // `Bash(OPENAI_API_KEY=… codex exec)`, a hook command.
    for (_, var) in det.tools.all_vars() {
        for (at, _) in s.match_indices(var) {
            let Some((from, n)) = assigned_value(s.as_bytes(), at, at + var.len()) else {
                continue;
            };
            let value = &s[from..from + n];
            if let Some(provider) = judge(det, var, value) {
                out.push(placed(finding(det, Some(var), value, provider)));
            }
        }
    }
    let hits = format_findings(det, s, &out[first..]);
    out.extend(hits.into_iter().map(placed));
}

/// A parsed JSON document that may hold keys: every string in it is
/// zeroised when it is dropped.
pub struct SecretJson(pub serde_json::Value);

impl Drop for SecretJson {
    fn drop(&mut self) {
        fn wipe(v: &mut serde_json::Value) {
            match v {
                serde_json::Value::String(s) => zeroize::Zeroize::zeroize(s),
                serde_json::Value::Array(a) => a.iter_mut().for_each(wipe),
                serde_json::Value::Object(m) => m.values_mut().for_each(wipe),
                _ => {}
            }
        }
        wipe(&mut self.0);
    }
}

/// The TOML counterpart of [`SecretJson`].
struct SecretToml(toml::Value);

impl Drop for SecretToml {
    fn drop(&mut self) {
        fn wipe(v: &mut toml::Value) {
            match v {
                toml::Value::String(s) => zeroize::Zeroize::zeroize(s),
                toml::Value::Array(a) => a.iter_mut().for_each(wipe),
                toml::Value::Table(m) => m.iter_mut().for_each(|(_, v)| wipe(v)),
                _ => {}
            }
        }
        wipe(&mut self.0);
    }
}

/// Keys in a JSON or TOML config. A file that does not parse is still
/// searched line by line for key formats (and `parse_error` is set).
pub fn scan_config(text: &str, kind: SourceKind, det: &Detector) -> (Vec<Finding>, bool) {
    let mut out = Vec::new();
    let parsed = if kind == SourceKind::CodexConfig {
        match toml::from_str::<toml::Value>(text) {
            Ok(v) => {
                let v = SecretToml(v);
                walk(Tree::Toml(&v.0), &mut Vec::new(), kind, text, det, &mut out);
                true
            }
            Err(_) => false,
        }
    } else {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) => {
                let v = SecretJson(v);
                walk(Tree::Json(&v.0), &mut Vec::new(), kind, text, det, &mut out);
                true
            }
            Err(_) => false,
        }
    };
    if !parsed {
        out = scan_each_line(text, det, |_| None);
    }
    (out, !parsed)
}
