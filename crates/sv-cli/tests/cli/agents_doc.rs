//! docs/agents.md is checked against the real binaries: its `config.toml`
//! block is the user's config, every `session-vault exec` line runs (with a
//! probe in place of the agent), and every `.mcp.json` server starts as its
//! `command` and `args` say (with the probe in place of `npx`).
use crate::util::*;
use std::collections::BTreeMap;

const DOC: &str = include_str!("../../../../docs/agents.md");

/// Tool → variables: the built-ins plus the page's `[tools.*]` tables.
fn tool_vars(config: &str) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = [
        ("claude", "ANTHROPIC_API_KEY"),
        ("cursor", "CURSOR_API_KEY"),
        ("codex", "OPENAI_API_KEY"),
        ("gemini", "GEMINI_API_KEY"),
    ]
    .iter()
    .map(|(t, v)| (t.to_string(), vec![v.to_string()]))
    .collect();
    let mut tool = None;
    for line in config.lines() {
        if let Some(name) = line
            .strip_prefix("[tools.")
            .and_then(|l| l.strip_suffix(']'))
        {
            tool = Some(name.to_owned());
        } else if let (Some(t), Some(list)) = (&tool, line.strip_prefix("vars = ")) {
            let vars = list
                .split('"')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect();
            m.insert(t.clone(), vars);
        }
    }
    m
}

fn value(tool: &str, var: &str) -> String {
    format!("test-key-{tool}-{var}-'$(x)'")
}

#[test]
fn every_recipe_of_the_agents_page_works() {
    let blocks = code_blocks(DOC, "docs/agents.md");
    let config = &blocks
        .iter()
        .find(|(lang, text)| lang == "toml" && text.contains("[tools.openrouter]"))
        .expect("the config.toml block")
        .1;
    for provider in ["openrouter", "mistral", "groq", "github"] {
        assert!(
            config.contains(&format!("[tools.{provider}]")),
            "no {provider} tool in the doc"
        );
    }
    let tools = tool_vars(config);

    let env = TestEnv::new();
    env.write_config(config);
    let app = env.mkdir("src/app");
    env.start_unlocked();
    for (tool, vars) in &tools {
        let stdin: String = vars
            .iter()
            .map(|v| format!("{}\n", value(tool, v)))
            .collect();
        env.run(
            &["add", "--tool", tool, "--project", app.to_str().unwrap()],
            Some(&stdin),
        )
        .ok();
    }

    // Every `session-vault exec` line, with the agent replaced by a probe.
    let mut exec_lines = 0;
    for (lang, text) in blocks.iter().filter(|(lang, _)| lang == "sh") {
        for line in text
            .lines()
            .filter(|l| l.starts_with("session-vault exec "))
        {
            let words: Vec<&str> = line.split_whitespace().collect();
            let dashdash = words
                .iter()
                .position(|w| *w == "--")
                .unwrap_or_else(|| panic!("no `--` in {line:?}"));
            let mut wanted = Vec::new();
            for pair in words[2..dashdash].chunks(2) {
                assert_eq!(pair[0], "--tool", "{line:?} ({lang})");
                wanted.extend(
                    tools
                        .get(pair[1])
                        .unwrap_or_else(|| panic!("unknown tool in {line:?}"))
                        .iter()
                        .map(|v| (pair[1], v)),
                );
            }
            let mut args: Vec<&str> = words[1..=dashdash].to_vec();
            args.push("printenv");
            args.extend(wanted.iter().map(|(_, v)| v.as_str()));
            let r = env.run_in(&app, &args, None).ok();
            let expected: String = wanted
                .iter()
                .map(|(t, v)| format!("{}\n", value(t, v)))
                .collect();
            assert_eq!(r.stdout, expected, "{line:?}");
            exec_lines += 1;
        }
    }
    assert!(exec_lines >= 10, "only {exec_lines} exec recipes found");

    // Every MCP server, started as .mcp.json says, up to `--`.
    let mcp = &blocks
        .iter()
        .find(|(lang, text)| lang == "json" && text.contains("mcpServers"))
        .expect("the .mcp.json block")
        .1;
    let mcp: serde_json::Value =
        serde_json::from_str(mcp).expect("the .mcp.json block is valid JSON");
    let servers = mcp["mcpServers"].as_object().unwrap();
    assert!(servers.contains_key("github"));
    for (name, server) in servers {
        assert_eq!(server["command"], "session-vault", "{name}");
        assert!(server.get("env").is_none(), "{name}: no token in the file");
        let args: Vec<&str> = server["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(&args[..2], ["exec", "--tool"], "{name}");
        let dashdash = args.iter().position(|a| *a == "--").unwrap();
        assert_eq!(args[dashdash + 1], "npx", "{name}");
        let tool = args[2];
        let vars = &tools[tool];
        let mut run: Vec<&str> = args[..=dashdash].to_vec();
        run.push("printenv");
        run.extend(vars.iter().map(String::as_str));
        let r = env.run_in(&app, &run, None).ok();
        let expected: String = vars
            .iter()
            .map(|v| format!("{}\n", value(tool, v)))
            .collect();
        assert_eq!(r.stdout, expected, "{name}");
    }
    assert_eq!(tools["github"], ["GITHUB_PERSONAL_ACCESS_TOKEN"]);

    // The apiKeyHelper value the page shows is what `integrate` writes.
    assert!(DOC.contains("\"apiKeyHelper\": \"session-vault get --tool claude\""));
    env.run_in(&app, &["integrate", "claude"], None).ok();
    let written = std::fs::read_to_string(app.join(".claude/settings.local.json")).unwrap();
    assert!(
        written.contains("\"apiKeyHelper\": \"session-vault get --tool claude\""),
        "{written}"
    );
}
