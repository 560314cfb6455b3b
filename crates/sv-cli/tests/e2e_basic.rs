//! The core commands end to end against the real daemon.
mod common;
use common::*;

#[test]
fn add_then_get_inside_the_project_only() {
    let env = TestEnv::new();
    let app = env.mkdir("p/app");
    let evil = env.mkdir("p/app-evil");
    let sub = env.mkdir("p/app/src/deep");
    env.start_unlocked();
    let id = env.add("claude", &["--project", app.to_str().unwrap()], "sk-ant-api03-secret");
    assert_eq!(id.len(), 36);
    assert_eq!(env.get_in(&app, "claude").ok().stdout, "sk-ant-api03-secret\n");
    assert_eq!(env.get_in(&sub, "claude").ok().stdout, "sk-ant-api03-secret\n");
    let r = env.get_in(&evil, "claude").code(3);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("no credential for tool `claude`"), "{}", r.stderr);
    assert!(r.stderr.contains(evil.to_str().unwrap()));
}
