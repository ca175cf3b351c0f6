//! The README's commands, run as written: every `cargo run -- …` and `target/debug/scgenept …`
//! line of its `sh` blocks runs in a copy of `configs/` whose demo configs are shrunk to a test-
//! sized network (same data, same knowledge source, same sweep). The test command it shows is
//! the one `.ci/run` runs. So the README cannot drift from the CLI.

use std::path::Path;
use std::process::Command;

use crate::common::root;

/// Command lines of the README's ```sh blocks, comments cut.
fn readme_commands() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut out = Vec::new();
    let mut in_sh = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            in_sh = !in_sh && t == "```sh";
            continue;
        }
        if in_sh && !t.is_empty() {
            let cmd = match t.find("  #") {
                Some(i) => t[..i].trim(),
                None => t,
            };
            out.push(cmd.to_string());
        }
    }
    out
}

/// Splits a command line into words, honouring double quotes (all the README uses).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `configs/` (its files and `sweeps/`) copied into `dir`.
fn copy_configs(dir: &Path) {
    let copy = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
            }
        }
    };
    copy(&root().join("configs"), &dir.join("configs"));
    copy(&root().join("configs/sweeps"), &dir.join("configs/sweeps"));
}

/// `configs/` copied into `dir`, with the demo run configs shrunk (model and sampled genes only).
fn shrunk_configs(dir: &Path) {
    copy_configs(dir);
    for name in ["demo.toml", "demo_scgpt.toml", "demo_go_c.toml"] {
        let path = dir.join("configs").join(name);
        let mut cfg: toml::Table =
            toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let model = cfg["model"].as_table_mut().unwrap();
        for (k, v) in [("d_model", 16), ("nhead", 2), ("d_hid", 16), ("nlayers", 1)] {
            model.insert(k.into(), toml::Value::Integer(v));
        }
        let train = cfg["train"].as_table_mut().unwrap();
        train.insert("max_seq_len".into(), toml::Value::Integer(24));
        std::fs::write(&path, toml::to_string(&cfg).unwrap()).unwrap();
    }
}

#[test]
fn readme_commands_run_as_written() {
    let commands = readme_commands();
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    let dir = std::env::temp_dir().join(format!("scgenept-readme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    shrunk_configs(&dir);
    let mut ran = 0;
    for line in &commands {
        let w = words(line);
        let args: &[String] = match w.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["cargo", "run", "--", ..] => &w[3..],
            ["target/debug/scgenept", ..] => &w[1..],
            ["cargo", "test", ..] => {
                assert!(
                    ci.contains(line),
                    ".ci/run does not run the README's `{line}`"
                );
                continue;
            }
            _ => panic!("README command `{line}` is neither the binary nor the test command"),
        };
        let o = Command::new(env!("CARGO_BIN_EXE_scgenept"))
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "README command `{line}` failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        if args[0] == "sweep" {
            let out = String::from_utf8_lossy(&o.stdout);
            assert!(
                out.contains("## Does gene knowledge help?")
                    && out.contains("ridge_embedding (go_c_concat)")
                    && out.contains("## Test subgroup unseen_single"),
                "{out}"
            );
            assert!(dir.join("runs/sweeps/demo/bars.png").is_file());
        }
        ran += 1;
    }
    assert!(
        ran >= 4,
        "expected the main job and the examples, ran {ran}"
    );
    let pred = std::fs::read_to_string(dir.join("runs/pred.csv")).unwrap();
    assert!(
        pred.lines().next().unwrap().contains("CEBPB+CNN1"),
        "{pred}"
    );
    assert!(dir.join("runs/fig.png").is_file());
    // The screen: every pair of the 8 listed genes, ranked, and its figure.
    let screen = std::fs::read_to_string(dir.join("runs/screen.csv")).unwrap();
    assert_eq!(screen.lines().count(), 1 + 28, "{screen}");
    // Over five control draws: intervals, rank ranges and the ranking's stability.
    let header = screen.lines().next().unwrap();
    assert!(header.contains(",mag_ci95,") && header.ends_with(",rank_min,rank_max"));
    let provenance = std::fs::read_to_string(dir.join("runs/screen.csv.provenance.json")).unwrap();
    assert!(
        provenance.contains("\"control_draws\": \"5\""),
        "{provenance}"
    );
    assert!(provenance.contains("rank_spearman_mean"), "{provenance}");
    assert!(dir.join("runs/screen.png").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The README quotes the main job's findings (`runs/sweeps/demo/findings.md`, which the sweep
/// builds from its own comparisons) between two markers. This runs the main job as the README
/// does, at full size, and fails when the quoted block differs, printing the block to paste: the
/// README's findings cannot drift from what the main job finds.
#[test]
fn readme_findings_are_the_main_jobs() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let (start, end) = (
        "<!-- findings: runs/sweeps/demo/findings.md -->\n",
        "<!-- /findings -->",
    );
    let from = readme.find(start).expect("README: findings start marker") + start.len();
    let to = from
        + readme[from..]
            .find(end)
            .expect("README: findings end marker");
    let quoted = &readme[from..to];
    let dir = std::env::temp_dir().join(format!("scgenept-findings-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_configs(&dir);
    let o = Command::new(env!("CARGO_BIN_EXE_scgenept"))
        .args(["sweep", "--config", "configs/sweeps/demo.toml"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let found = std::fs::read_to_string(dir.join("runs/sweeps/demo/findings.md")).unwrap();
    assert_eq!(
        quoted.trim(),
        found.trim(),
        "the README's findings differ from the main job's; paste this between the markers:\n{found}"
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("## Against the strongest baseline"),
        "{stdout}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
