//! `scgenept screen`: unknown genes stop it up front, every pair is ranked, a killed screen
//! continues where it stopped and ends with the table an uninterrupted one writes, and the parts
//! of another screen are never mixed in.

use std::path::Path;
use std::process::Command;

use crate::common::{
    bin, json, ok, one_line_error, run_dir, scgenept, tempdir, tiny_config, train, wait_for,
};

fn screen(bundle: &Path, genes: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(["screen", "--checkpoint", bundle.to_str().unwrap()])
        .args([
            "--genes",
            genes.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .args(["--pool-size", "8"])
        .args(extra);
    c
}

#[test]
fn screen_ranks_pairs_resumes_after_a_kill_and_refuses_what_it_cannot_do() {
    let dir = tempdir("screen");
    let cfg = tiny_config(&dir, "s");
    ok(&train(&cfg, &["--set", "train.epochs=1"]).output().unwrap());
    let bundle = dir.join("bundle");
    let run = run_dir(&dir, "s");
    ok(&scgenept(&[
        "export",
        "--run",
        run.to_str().unwrap(),
        "--out",
        bundle.to_str().unwrap(),
        "--pool-size",
        "12",
    ]));
    let meta = json(&bundle.join("meta.json"));
    let names: Vec<&str> = (0..9).map(|i| meta["genes"][i].as_str().unwrap()).collect();
    let genes = dir.join("genes.txt");
    std::fs::write(&genes, format!("{}\nNOT_A_GENE\n", names.join("\n"))).unwrap();

    // Unknown genes are all named before anything starts.
    let out = dir.join("a/screen.csv");
    one_line_error(
        &screen(&bundle, &genes, &out, &[]).output().unwrap(),
        &["NOT_A_GENE", "--skip-unknown"],
    );
    assert!(!out.exists() && !dir.join("a/screen.csv.parts").exists());

    // The uninterrupted screen: 9 genes, 36 pairs (two chunks), ranked by magnitude.
    let text = ok(&screen(&bundle, &genes, &out, &["--skip-unknown"])
        .output()
        .unwrap());
    assert!(
        text.contains("skipped NOT_A_GENE") && text.contains("screened 36 pairs"),
        "{text}"
    );
    let table = std::fs::read_to_string(&out).unwrap();
    let mags: Vec<f64> = (table.lines().skip(1))
        .map(|l| l.split(',').nth(3).unwrap().parse().unwrap())
        .collect();
    assert_eq!(mags.len(), 36);
    assert!(mags.windows(2).all(|w| w[0] >= w[1]), "{mags:?}");
    assert!(table.starts_with("rank,gene_a,gene_b,mag,c1,c2,corr_fit,"));

    // Killed after its first chunk, then run again: it continues and ends with the same table.
    let out_b = dir.join("b/screen.csv");
    let mut child = screen(&bundle, &genes, &out_b, &["--skip-unknown"])
        .env("SCGENEPT_PAUSE_WRITES", "1500")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for(
        &dir.join("b/screen.csv.parts/chunk-000000.csv"),
        "the first chunk",
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out_b.exists());
    let text = ok(&screen(&bundle, &genes, &out_b, &["--skip-unknown"])
        .output()
        .unwrap());
    assert!(text.contains("(32 of "), "{text}");
    assert_eq!(std::fs::read_to_string(&out_b).unwrap(), table);

    // Ctrl-C: exit 130, the finished chunks kept, and the command that continues printed.
    let out_i = dir.join("i/screen.csv");
    let child = screen(&bundle, &genes, &out_i, &["--skip-unknown"])
        .env("SCGENEPT_PAUSE_WRITES", "1500")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(
        &dir.join("i/screen.csv.parts/chunk-000000.csv"),
        "the first chunk",
    );
    crate::common::interrupt(child.id());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(
        err.contains("interrupted; to continue:") && err.contains("screen --checkpoint"),
        "{err}"
    );

    // Another screen into the same place is refused; a pair list screens just those pairs.
    one_line_error(
        &screen(&bundle, &genes, &out_b, &["--skip-unknown", "--seed", "3"])
            .output()
            .unwrap(),
        &["different screen", "another --out"],
    );
    let pairs = dir.join("pairs.txt");
    std::fs::write(
        &pairs,
        format!("{}+{}\n{},{}\n", names[0], names[1], names[2], names[3]),
    )
    .unwrap();
    let out_c = dir.join("c/screen.csv");
    let p = pairs.to_str().unwrap();
    let png = dir.join("c/screen.png");
    let text = ok(
        &screen(&bundle, &genes, &out_c, &["--skip-unknown", "--pairs", p])
            .args(["--plot", png.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    assert!(text.contains("screened 2 pairs"), "{text}");
    assert!(png.exists());
    std::fs::write(&pairs, format!("{}+NOT_A_GENE\n", names[0])).unwrap();
    one_line_error(
        &screen(
            &bundle,
            &genes,
            &dir.join("d/s.csv"),
            &["--skip-unknown", "--pairs", p],
        )
        .output()
        .unwrap(),
        &["pairs.txt:1", "not among the screened genes"],
    );

    // Over three control draws: one folder of parts per draw; draw 0 is the single screen's draw
    // (the same seed), so its table equals the one-draw table; a rerun resumes every draw.
    std::fs::write(
        &pairs,
        format!("{}+{}\n{},{}\n", names[0], names[1], names[2], names[3]),
    )
    .unwrap();
    let out_e = dir.join("e/screen.csv");
    let three = ["--skip-unknown", "--pairs", p, "--draws", "3"];
    let text = ok(&screen(&bundle, &genes, &out_e, &three).output().unwrap());
    assert!(
        text.contains("over 3 control draws") && text.contains("rank stability over 3"),
        "{text}"
    );
    let table = std::fs::read_to_string(&out_e).unwrap();
    assert!(table
        .lines()
        .next()
        .unwrap()
        .ends_with(",rank_min,rank_max"));
    let parts = dir.join("e/screen.csv.parts");
    let one_draw = std::fs::read_to_string(parts.join("draw-0/chunk-000000.csv")).unwrap();
    let single = std::fs::read_to_string(dir.join("c/screen.csv.parts/chunk-000000.csv")).unwrap();
    assert_eq!(one_draw, single, "draw 0 is the single screen");
    assert!(parts.join("draw-2/chunk-000000.csv").exists());
    let text = ok(&screen(&bundle, &genes, &out_e, &three).output().unwrap());
    assert!(
        text.contains("(6 of 6 pair predictions from an earlier run)"),
        "{text}"
    );
    assert_eq!(std::fs::read_to_string(&out_e).unwrap(), table);
}
