//! `scgenept data …` end to end: synth → inspect → split, fetch against a loopback Dataverse
//! (dropped connection, resume, checksum), and one-line failures that leave nothing behind.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::common::{bin, root, synth_tiny, tempdir};

fn scgenept(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(root())
        .env_remove("SCGENEPT_DATAVERSE_URL")
        .output()
        .expect("binary runs")
}

fn one_line_error(o: &Output, needle: &str) {
    crate::common::one_line_error(o, &[needle]);
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn synth_inspect_split() {
    let dir = tempdir("synth");
    let h5 = dir.join("tiny.h5ad");
    let o = scgenept(&[
        "data",
        "synth",
        "--preset",
        "tiny",
        "--seed",
        "3",
        "--out",
        h5.to_str().unwrap(),
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains("600 cells × 64 genes") && out.contains("SYNTHETIC"),
        "{out}"
    );

    let o = scgenept(&["data", "inspect", h5.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    for want in [
        "cells       600",
        "genes       64",
        "control     150 cells",
        "DE keys     present",
        "scGPT vocab",
        "SYNTHETIC",
    ] {
        assert!(out.contains(want), "missing '{want}' in:\n{out}");
    }

    let split = dir.join("split.json");
    let o = scgenept(&[
        "data",
        "split",
        "--data",
        h5.to_str().unwrap(),
        "--seed",
        "1",
        "--out",
        split.to_str().unwrap(),
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains("Simulation split test composition:") && out.contains("unseen_single:"),
        "{out}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&split).unwrap()).unwrap();
    for key in ["train", "val", "test", "test_subgroup", "val_subgroup"] {
        assert!(v.get(key).is_some(), "{key} in split.json");
    }
    assert!(v["train"].as_array().unwrap().iter().any(|c| c == "ctrl"));
}

#[test]
fn data_commands_fail_in_one_line_and_write_nothing() {
    let dir = tempdir("data-bad");
    let out = dir.join("x.h5ad");
    one_line_error(
        &scgenept(&[
            "data",
            "synth",
            "--preset",
            "huge",
            "--out",
            out.to_str().unwrap(),
        ]),
        "unknown preset 'huge'",
    );
    assert!(!out.exists());
    one_line_error(
        &scgenept(&["data", "inspect", dir.join("nope.h5ad").to_str().unwrap()]),
        "cannot open",
    );
    let fixture = root().join("tests/fixtures/h5ad/ad12_user.h5ad");
    let split = dir.join("split.json");
    let o = scgenept(&[
        "data",
        "split",
        "--data",
        fixture.to_str().unwrap(),
        "--out",
        split.to_str().unwrap(),
        "--perturbation-column",
        "guide_target",
        "--control-label",
        "non-targeting",
        "--gene-symbol-column",
        "symbol",
    ]);
    one_line_error(&o, "no control cells");
    assert!(!split.exists());
    // With the right labels the user file splits.
    let o = scgenept(&[
        "data",
        "split",
        "--data",
        fixture.to_str().unwrap(),
        "--out",
        split.to_str().unwrap(),
        "--perturbation-column",
        "guide_target",
        "--control-label",
        "NT",
        "--gene-symbol-column",
        "symbol",
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    one_line_error(
        &scgenept(&["data", "fetch", "replogle", "--dir", dir.to_str().unwrap()]),
        "unknown dataset 'replogle'; choose one of norman, adamson, dixit, \
         replogle_k562_essential, replogle_rpe1_essential",
    );
}

/// A loopback stand-in for Dataverse: file metadata with an MD5, and the file with Range support.
/// The first download is cut off half way to exercise resume. `file` is the dataset's Dataverse
/// file id and name.
fn serve(
    file: (u64, &str),
    zip: Vec<u8>,
    md5: String,
    cut_first: bool,
) -> (String, Arc<AtomicUsize>) {
    let (id, name) = (file.0, file.1.to_string());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let downloads = Arc::new(AtomicUsize::new(0));
    let counter = downloads.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            let mut range_start = 0usize;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
                if let Some(r) = h.to_ascii_lowercase().strip_prefix("range: bytes=") {
                    range_start = r.trim().trim_end_matches('-').parse().unwrap();
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
            if path == format!("/api/files/{id}") {
                let body = format!(
                    r#"{{"status":"OK","data":{{"dataFile":{{"filename":"{name}.zip","md5":"{md5}"}}}}}}"#
                );
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            } else if path == format!("/api/access/datafile/{id}") {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let body = &zip[range_start..];
                let status = if range_start > 0 {
                    "206 Partial Content"
                } else {
                    "200 OK"
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let send = if cut_first && n == 0 {
                    &body[..body.len() / 2]
                } else {
                    body
                };
                let _ = stream.write_all(send);
            } else {
                let _ = write!(
                    stream,
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
            let _ = stream.flush();
            // End the response here (a cut-off body included): the client sees EOF.
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    });
    (url, downloads)
}

/// A GEARS-layout zip: `<name>/perturb_processed.h5ad`, a tiny synthetic file.
fn dataset_zip(dir: &Path, name: &str) -> Vec<u8> {
    let h5 = dir.join("src.h5ad");
    assert!(synth_tiny(&h5).status.success());
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        z.add_directory(format!("{name}/"), opts).unwrap();
        z.start_file(format!("{name}/perturb_processed.h5ad"), opts)
            .unwrap();
        z.write_all(&std::fs::read(&h5).unwrap()).unwrap();
        z.finish().unwrap();
    }
    buf.into_inner()
}

#[test]
fn fetch_resumes_verifies_and_unpacks_atomically() {
    let dir = tempdir("fetch");
    let zip = dataset_zip(&dir, "adamson");
    let md5 = format!("{:x}", md5::compute(&zip));
    let (url, downloads) = serve((6154417, "adamson"), zip.clone(), md5, true);
    let data_dir = dir.join("data");
    let args = [
        "data",
        "fetch",
        "adamson",
        "--dir",
        data_dir.to_str().unwrap(),
        "--base-url",
        &url,
    ];

    // First attempt: the connection drops half way.
    let o = scgenept(&args);
    one_line_error(&o, "run the same command again to resume");
    assert!(!data_dir.join("adamson").exists(), "no half dataset");
    let part = data_dir.join(".adamson.zip.part");
    assert_eq!(
        std::fs::metadata(&part).unwrap().len() as usize,
        zip.len() / 2
    );

    // Second attempt resumes from the partial file.
    let o = scgenept(&args);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains(&format!("resumed at byte {}", zip.len() / 2)),
        "{out}"
    );
    assert!(out.contains("MD5 verified"), "{out}");
    assert_eq!(downloads.load(Ordering::SeqCst), 2);
    let h5 = data_dir.join("adamson/perturb_processed.h5ad");
    assert!(h5.exists() && data_dir.join("adamson/FETCHED.json").exists());
    assert!(!part.exists());
    let o = scgenept(&["data", "inspect", h5.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o).1);

    // Already there: refuse without --force.
    one_line_error(&scgenept(&args), "already exists");

    // A corrupt download is caught by the published MD5 and removed.
    let (bad_url, _) = serve((6154417, "adamson"), zip, "0".repeat(32), false);
    let o = scgenept(&[
        "data",
        "fetch",
        "adamson",
        "--dir",
        data_dir.to_str().unwrap(),
        "--base-url",
        &bad_url,
        "--force",
    ]);
    one_line_error(&o, "MD5 mismatch");
    assert!(!part.exists(), "the bad download was removed");
    assert!(
        h5.exists(),
        "the good dataset is untouched by a failed refetch"
    );
}

/// The Replogle essential screens come from the Dataverse files GEARS names, in the same layout.
#[test]
fn fetch_knows_the_replogle_screens() {
    let dir = tempdir("fetch_replogle");
    for (id, name) in [
        (7458695, "replogle_k562_essential"),
        (7458694, "replogle_rpe1_essential"),
    ] {
        let zip = dataset_zip(&dir, name);
        let md5 = format!("{:x}", md5::compute(&zip));
        let (url, downloads) = serve((id, name), zip, md5, false);
        let data_dir = dir.join("data");
        let o = scgenept(&[
            "data",
            "fetch",
            name,
            "--dir",
            data_dir.to_str().unwrap(),
            "--base-url",
            &url,
        ]);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{name}: {err}");
        assert!(out.contains("MD5 verified"), "{out}");
        assert_eq!(downloads.load(Ordering::SeqCst), 1);
        let h5 = data_dir.join(name).join("perturb_processed.h5ad");
        let o = scgenept(&["data", "inspect", h5.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o).1);
    }
}

#[test]
fn knowledge_coverage_reads_genes_from_an_h5ad() {
    let h5 = root().join("tests/fixtures/h5ad/ad08_gears.h5ad");
    let o = scgenept(&["knowledge", "coverage", "--genes", h5.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    // The fixture's var.gene_name: five real targets (FOSB, CEBPB, KLF1, JUN, SET) and 35 made-up names.
    assert!(out.contains("go_all        5/40 genes with text"), "{out}");
    assert!(out.contains("ncbi_uniprot  5/40"), "{out}");
    // Its perturbation targets, from obs.condition: the same five, each with text.
    assert!(
        out.contains("perturbation targets (5, from obs.condition):"),
        "{out}"
    );
    assert!(
        out.contains("go_c          5/5 targets with text\n"),
        "{out}"
    );
    // A synthetic file's targets (real Norman genes) are counted the same way.
    let dir = tempdir("coverage_targets");
    let synth = dir.join("tiny.h5ad");
    assert!(synth_tiny(&synth).status.success());
    let o = scgenept(&["knowledge", "coverage", "--genes", synth.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with("go_all") && l.contains("targets"));
    let line = line.unwrap_or_else(|| panic!("no target line: {out}"));
    let (k, n) = line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .split_once('/')
        .unwrap();
    assert!(
        k.parse::<usize>().unwrap() <= n.parse::<usize>().unwrap() && n != "0",
        "{line}"
    );
}

#[test]
fn baselines_print_a_table_per_subgroup() {
    let dir = tempdir("baselines");
    let h5 = dir.join("tiny.h5ad");
    assert!(synth_tiny(&h5).status.success());
    let json = dir.join("baselines.json");
    let o = scgenept(&[
        "baselines",
        "--data",
        h5.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains("### test, all") && out.contains("| control_mean | 0.0000 | 0.0000 |"),
        "{out}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["control_mean"]["test_pearson_delta"], 0.0);
    assert!(v["non_ctrl_mean"]["test_mse_de"].as_f64().unwrap() > 0.0);
    one_line_error(
        &scgenept(&[
            "baselines",
            "--data",
            h5.to_str().unwrap(),
            "--split",
            root()
                .join("tests/fixtures/split/adamson_pert_data_subgroups.pkl")
                .to_str()
                .unwrap(),
        ]),
        "does not have",
    );
}
