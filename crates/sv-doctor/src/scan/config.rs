//! JSON and TOML configs: every string is walked with its path
//! (`mcpServers.github.env.GITHUB_TOKEN`), judged by its key name and by key
//! formats; a file that does not parse is still searched for formats.

use super::{finding, is_secret_value, judge, secret_config_key};
use crate::formats::{find_keys, provider_of};
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
enum Tree<'a> {
    Json(&'a serde_json::Value),
    Toml(&'a toml::Value),
}

fn walk(
    tree: Tree<'_>,
    path: &mut Vec<Seg>,
    kind: SourceKind,
    text: &str,
    det: &Detector,
    out: &mut Vec<Finding>,
) {
    let leaf = |s: &str, path: &mut Vec<Seg>, out: &mut Vec<Finding>| {
        let name = match path.last() {
            Some(Seg::Key(k)) => Some(k.as_str()),
            _ => None,
        };
        let mut push = |var: Option<&str>, value: &str, provider| {
            let mut f = finding(det, var, value, provider);
            f.json_path = Some(path_string(path));
            f.line = line_of(text, value);
            f.loc = classify(path, kind);
            out.push(f);
        };
        if let Some(provider) = name.and_then(|n| judge(det, n, s)) {
            push(name, s, provider);
            return;
        }
        // `primaryApiKey` in `~/.claude.json`, and the like.
        if let Some(tool) = name.and_then(secret_config_key) {
            if is_secret_value(s) {
                let mut f = finding(det, None, s, provider_of(s));
                f.variable = name.map(str::to_owned);
                f.tool = tool.map(str::to_owned);
                f.json_path = Some(path_string(path));
                f.line = line_of(text, s);
                f.loc = classify(path, kind);
                out.push(f);
                return;
            }
        }
        let first = out.len();
        let mut push = |var: Option<&str>, value: &str, provider| {
            let mut f = finding(det, var, value, provider);
            f.json_path = Some(path_string(path));
            f.line = line_of(text, value);
            f.loc = classify(path, kind);
            out.push(f);
        };
        // A tool's variable set inside a string: a permission rule such as
        // `Bash(OPENAI_API_KEY=… codex exec)`, a hook command.
        for (_, var) in det.tools.all_vars() {
            for (at, _) in s.match_indices(var) {
                let Some((from, n)) = assigned_value(s.as_bytes(), at, at + var.len()) else {
                    continue;
                };
                let value = &s[from..from + n];
                if let Some(provider) = judge(det, var, value) {
                    push(Some(var), value, provider);
                }
            }
        }
        for hit in find_keys(s) {
            let key = &s[hit.start..hit.end];
            if out[first..].iter().any(|f| f.value.expose() == key) {
                continue;
            }
            let mut f = finding(det, None, key, Some(hit.provider));
            f.json_path = Some(path_string(path));
            f.line = line_of(text, key);
            f.loc = classify(path, kind);
            out.push(f);
        }
    };
    match tree {
        Tree::Json(serde_json::Value::String(s)) => leaf(s, path, out),
        Tree::Json(serde_json::Value::Object(m)) => {
            for (k, v) in m {
                path.push(Seg::Key(k.clone()));
                walk(Tree::Json(v), path, kind, text, det, out);
                path.pop();
            }
        }
        Tree::Json(serde_json::Value::Array(a)) => {
            for (i, v) in a.iter().enumerate() {
                path.push(Seg::Index(i));
                walk(Tree::Json(v), path, kind, text, det, out);
                path.pop();
            }
        }
        Tree::Json(_) => {}
        Tree::Toml(toml::Value::String(s)) => leaf(s, path, out),
        Tree::Toml(toml::Value::Table(m)) => {
            for (k, v) in m {
                path.push(Seg::Key(k.clone()));
                walk(Tree::Toml(v), path, kind, text, det, out);
                path.pop();
            }
        }
        Tree::Toml(toml::Value::Array(a)) => {
            for (i, v) in a.iter().enumerate() {
                path.push(Seg::Index(i));
                walk(Tree::Toml(v), path, kind, text, det, out);
                path.pop();
            }
        }
        Tree::Toml(_) => {}
    }
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
        for (i, line) in text.lines().enumerate() {
            for hit in find_keys(line) {
                let mut f = finding(det, None, &line[hit.start..hit.end], Some(hit.provider));
                f.line = Some(i + 1);
                out.push(f);
            }
        }
    }
    (out, !parsed)
}
