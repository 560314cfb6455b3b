//! Replays the fuzz seed corpus and every input the fuzzers ever crashed on
//! (fuzz/corpus/<target>/, fuzz/regressions/<target>/) through the same
//! property checks the fuzz targets run, so `cargo test` keeps them fixed
//! without nightly or libFuzzer. See docs/evidence.md.

#[path = "../../../fuzz/checks/replay.rs"]
mod replay;
use replay::replay;

#[allow(dead_code)]
#[path = "../../../fuzz/checks/frame.rs"]
mod frame;

#[test]
fn frames_get_one_well_formed_answer() {
    let harness = frame::Harness::new();
    replay("frame", |data| harness.run(data));
}

/// The `scope` fuzz finding, end to end: a project whose canonical path is
/// not UTF-8 cannot be stored exactly as text, so `add` refuses it.
#[test]
fn non_utf8_project_is_refused() {
    use std::os::unix::ffi::OsStrExt;
    let harness = frame::Harness::new();
    let d = tempfile::tempdir().unwrap();
    let odd = d.path().join(std::ffi::OsStr::from_bytes(b"proj-\xff"));
    std::fs::create_dir(&odd).unwrap();
    let link = d.path().join("link");
    std::os::unix::fs::symlink(&odd, &link).unwrap();
    let frame = format!(
        r#"{{"jsonrpc":"2.0","id":9,"method":"add","params":{{"tool":"claude","project":{},"ttl":0,"values":[{{"name":"ANTHROPIC_API_KEY","value":"sk-x"}}]}}}}"#,
        serde_json::Value::String(link.display().to_string())
    );
    let v = harness.answer(&frame);
    assert_eq!(v["error"]["code"], -32602, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid UTF-8"),
        "{v}"
    );
}
