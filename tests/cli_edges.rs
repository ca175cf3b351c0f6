//! The edges a user hits in the first hour (issue 15): resume that cannot mix two configs,
//! Ctrl-C that saves and says how to continue, inputs refused in one line, no temporaries left,
//! and tables and figures labelled so they cannot be misread.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;

/// Makes `name`'s run look interrupted after its last epoch: the epoch checkpoint stays, the
/// finished-run marker goes.
fn as_interrupted(dir: &Path, name: &str) {
    std::fs::remove_file(run_dir(dir, name).join("metrics.json")).unwrap();
}

#[test]
fn resume_refuses_a_changed_config_unless_allowed_and_records_what_changed() {
    let dir = tempdir("edges-resume");
    let cfg = tiny_config(&dir, "r");
    ok(&train(&cfg, &["--set", "train.epochs=1"]).output().unwrap());
    as_interrupted(&dir, "r");

    // A fresh start over an interrupted run is refused, naming both ways out.
    let o = train(&cfg, &["--set", "train.epochs=1"]).output().unwrap();
    one_line_error(&o, &["holds an interrupted run", "--resume", "--overwrite"]);

    // A changed learning rate would mix two settings: refused, naming the key.
    let o = train(
        &cfg,
        &[
            "--set",
            "train.epochs=1",
            "--set",
            "train.lr=2e-3",
            "--resume",
        ],
    )
    .output()
    .unwrap();
    one_line_error(&o, &["train.lr: 0.001 → 0.002", "--allow-changed train.lr"]);
    let saved = std::fs::read_to_string(run_dir(&dir, "r").join("config.toml")).unwrap();
    assert!(
        saved.contains("lr = 0.001"),
        "the saved config is untouched:\n{saved}"
    );

    // More epochs is the legitimate case; an allowed change goes through too. Both are recorded.
    let o = train(
        &cfg,
        &[
            "--set",
            "train.epochs=2",
            "--set",
            "model.dropout=0.1",
            "--resume",
            "--allow-changed",
            "model.dropout",
        ],
    )
    .output()
    .unwrap();
    assert!(ok(&o).contains("resuming after epoch 1"));
    let manifest = json(&run_dir(&dir, "r").join("run.json"));
    assert_eq!(
        manifest["config_changes_on_resume"],
        serde_json::json!([
            "after epoch 1: model.dropout: 0.2 → 0.1",
            "after epoch 1: train.epochs: 1 → 2"
        ])
    );
    // --allow-changed without --resume is a usage error.
    let o = train(&cfg, &["--allow-changed", "train.lr"])
        .output()
        .unwrap();
    assert!(!o.status.success() && stderr(&o).contains("--resume"));
}

#[test]
fn ctrl_c_stops_at_a_checkpoint_and_prints_the_command_that_continues() {
    let dir = tempdir("edges-sigint");
    let cfg = tiny_config(&dir, "c");
    let state = run_dir(&dir, "c").join("checkpoints/resume/state.json");
    let child = train(&cfg, &["--set", "train.epochs=3"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&state, "an epoch checkpoint");
    interrupt(child.id());
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted in epoch "), "{err}");
    let command = err
        .lines()
        .find_map(|l| l.strip_prefix("to continue: "))
        .unwrap_or_else(|| panic!("no resume command:\n{err}"));
    assert!(
        command.ends_with("--set train.epochs=3 --device cpu --resume"),
        "{command}"
    );
    assert!(temporaries(&dir).is_empty(), "{:?}", temporaries(&dir));
    // The printed command, as printed, finishes the run.
    let o = std::process::Command::new("sh")
        .args(["-c", command])
        .output()
        .unwrap();
    assert!(ok(&o).contains("resuming after epoch"));
    assert!(run_dir(&dir, "c").join("metrics.json").exists());
}

/// `data synth --preset norman` writes 800 MB for most of a minute; here the write of a tiny
/// preset is held open instead (`SCGENEPT_PAUSE_WRITES`, a test hook in `write_atomic`), and
/// interrupted while its temporary exists.
#[test]
fn ctrl_c_during_a_write_leaves_no_temporary_and_no_output() {
    let dir = tempdir("edges-synth");
    let out = dir.join("tiny.h5ad");
    let child = synth_tiny_command(&out)
        .env("SCGENEPT_PAUSE_WRITES", "60000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while temporaries(&dir).is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no temporary appeared"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    interrupt(child.id());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(
        t0.elapsed() < Duration::from_secs(50),
        "the interrupt did not end the write"
    );
    assert!(temporaries(&dir).is_empty(), "{:?}", temporaries(&dir));
    assert!(!out.exists());
}

/// A temporary left by a writer that was killed outright (its pid gone) is removed by the next
/// write of the same file.
#[test]
fn a_killed_writers_temporary_goes_with_the_next_write() {
    let dir = tempdir("edges-stale");
    let out = dir.join("tiny.h5ad");
    let stale = dir.join(".tiny.h5ad.tmp-4194304-0"); // above Linux's pid_max: never alive
    std::fs::write(&stale, b"partial").unwrap();
    ok(&synth_tiny(&out));
    assert!(!stale.exists() && out.exists());
}

#[test]
fn predict_and_export_refuse_inputs_they_cannot_honour() {
    let dir = tempdir("edges-predict");
    let cfg = tiny_config(&dir, "p");
    ok(&train(&cfg, &["--set", "train.epochs=1"]).output().unwrap());
    let run = run_dir(&dir, "p");
    let bundle = dir.join("bundle");
    let (run_s, bundle_s) = (run.to_str().unwrap(), bundle.to_str().unwrap());
    let o = scgenept(&[
        "export",
        "--run",
        run_s,
        "--out",
        bundle_s,
        "--pool-size",
        "0",
    ]);
    assert!(
        !o.status.success() && stderr(&o).contains("at least 1"),
        "{}",
        stderr(&o)
    );
    assert!(!bundle.exists());
    ok(&scgenept(&[
        "export",
        "--run",
        run_s,
        "--out",
        bundle_s,
        "--pool-size",
        "30",
    ]));
    let meta = json(&bundle.join("meta.json"));
    let gene = meta["genes"][0].as_str().unwrap().to_string();
    let out = dir.join("pred.csv");
    let predict = |perts: &str, pool: &str| {
        scgenept(&[
            "predict",
            "--checkpoint",
            bundle_s,
            "--perturbations",
            perts,
            "--pool-size",
            pool,
            "--out",
            out.to_str().unwrap(),
        ])
    };
    one_line_error(
        &predict(&format!("{gene}+{gene}"), "5"),
        &[&format!("{gene}+{gene}"), "twice"],
    );
    one_line_error(
        &predict(&format!("{gene}+"), "5"),
        &[&format!("{gene}+"), "empty"],
    );
    let o = predict(&gene, "0");
    assert!(
        !o.status.success() && stderr(&o).contains("at least 1"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());

    // The run's own predictions (negative values allowed) are described, not refused.
    let text = ok(&scgenept(&[
        "data",
        "inspect",
        run.join("predictions.h5ad").to_str().unwrap(),
    ]));
    assert!(text.contains("scgenept output: predicted means"), "{text}");
    let h5 = dir.join("pred.h5ad");
    ok(&scgenept(&[
        "predict",
        "--checkpoint",
        bundle_s,
        "--perturbations",
        &gene,
        "--out",
        h5.to_str().unwrap(),
    ]));
    assert!(ok(&scgenept(&["data", "inspect", h5.to_str().unwrap()])).contains("predicted means"));
}

#[test]
fn a_prediction_file_with_negative_values_is_inspected() {
    use scgenept_data::h5ad_write::{AnnData, Frame, FrameColumn};
    let dir = tempdir("edges-inspect");
    let path = dir.join("old_predictions.h5ad");
    let names = vec!["A+ctrl".to_string(), "A+B".to_string()];
    let genes = vec!["g1".to_string(), "g2".to_string()];
    let x = scgenept_data::csr::CsrMatrix::from_dense(2, 2, &[-0.5, 1.0, 0.25, -2.0]);
    // As written before outputs were marked in uns: obs holds only condition and subgroup.
    AnnData {
        x: &x,
        layers: vec![],
        obs: Frame {
            index_name: "condition_index".into(),
            index: names.clone(),
            columns: vec![
                ("condition".into(), FrameColumn::Categorical(names)),
                (
                    "subgroup".into(),
                    FrameColumn::Categorical(vec!["unseen_single".into(), "combo_seen1".into()]),
                ),
            ],
        },
        var: Frame::genes(&genes, &genes),
        uns: vec![],
    }
    .write(&path)
    .unwrap();
    let text = ok(&scgenept(&["data", "inspect", path.to_str().unwrap()]));
    assert!(
        text.contains("values      -2.0000 … 1.0000 (2 negative)"),
        "{text}"
    );
    assert!(
        text.contains("subgroups   combo_seen1, unseen_single"),
        "{text}"
    );
}

#[test]
fn a_split_is_written_only_as_json() {
    let dir = tempdir("edges-split");
    let data = dir.join("tiny.h5ad");
    ok(&synth_tiny(&data));
    let pkl = dir.join("s.pkl");
    let o = scgenept(&[
        "data",
        "split",
        "--data",
        data.to_str().unwrap(),
        "--out",
        pkl.to_str().unwrap(),
    ]);
    one_line_error(&o, &["s.pkl", "name the file .json"]);
    assert!(!pkl.exists());
}

#[test]
fn config_errors_blame_the_set_that_caused_them_and_name_the_key() {
    let dir = tempdir("edges-config");
    let cfg = tiny_config(&dir, "k");
    let o = train(&cfg, &["--set", "train.epochz=3"]).output().unwrap();
    one_line_error(
        &o,
        &["error: --set train.epochz=3:", "unknown field `epochz`"],
    );
    let o = train(&cfg, &["--set", "train.lr=-1"]).output().unwrap();
    one_line_error(
        &o,
        &["error: --set train.lr=-1: train.lr must be a positive number (it is -1)"],
    );
    let o = train(&cfg, &["--set", "train.batch_size=0"])
        .output()
        .unwrap();
    one_line_error(
        &o,
        &["--set train.batch_size=0: train.batch_size must be at least 1"],
    );
    // A bad value in the file names the file and the key.
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("lr = 1e-3", "lr = 0.0");
    std::fs::write(&cfg, text).unwrap();
    let o = train(&cfg, &[]).output().unwrap();
    one_line_error(
        &o,
        &["k.toml: train.lr must be a positive number (it is 0)"],
    );
}

#[test]
fn a_failed_device_probe_is_one_line_even_with_rust_backtrace() {
    let dir = tempdir("edges-probe");
    let cfg = tiny_config(&dir, "d");
    let o = train(&cfg, &[])
        .env("RUST_BACKTRACE", "1")
        .env("SCGENEPT_FAIL_PROBE", "1")
        .output()
        .unwrap();
    let err = stderr(&o);
    one_line_error(&o, &["device cpu is not usable"]);
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

#[test]
fn train_output_says_what_it_is_and_how_to_read_it() {
    let dir = tempdir("edges-tables");
    let cfg = tiny_config(&dir, "t");
    let o = train(&cfg, &["--set", "train.epochs=1"]).output().unwrap();
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(o.status.success(), "{err}");
    // Logs: epoch k/N, no colour codes in a pipe.
    assert!(err.contains("epoch 1/1"), "{err}");
    assert!(!err.contains('\u{1b}'), "ANSI codes in a log:\n{err}");
    // Tables: SYNTHETIC, directions once per table, the legend, the model type, plurals.
    assert!(out.contains("— 1 epoch, best epoch 1"), "{out}");
    assert!(
        out.contains("### test, all (") && out.contains(") — SYNTHETIC data"),
        "{out}"
    );
    assert!(out.contains("| method | pearson_delta_de ↑ |"), "{out}");
    assert!(out.contains("mse_de ↓ | rank_l1_delta ↓ |"), "{out}");
    assert!(out.contains("rank_l1_delta ↓: per condition"), "{out}");
    assert!(out.contains("| model (scgenept_random) |"), "{out}");
    assert!(
        !out.contains("(1 conditions)") && !out.contains("model (scgenept) "),
        "{out}"
    );
    // (A method scored on part of a subgroup: report.rs's unit test, with data made for it.)
    // metrics.json and run.json say synthetic; the tested epoch is recorded for the figure.
    let run = run_dir(&dir, "t");
    assert_eq!(json(&run.join("metrics.json"))["synthetic"], true);
    let manifest = json(&run.join("run.json"));
    assert_eq!(
        (
            manifest["synthetic"].clone(),
            manifest["tested_epoch"].clone()
        ),
        (true.into(), 1.into())
    );
    let steps = std::fs::read_to_string(run.join("train_batches.csv")).unwrap();
    assert!(
        steps.starts_with("epoch,batch,loss,grad_norm\n1,1,") && steps.lines().count() > 2,
        "{steps}"
    );

    // The baselines command reports the same random-perturbation row as the run (same seed).
    let b = dir.join("b.json");
    ok(&scgenept(&[
        "baselines",
        "--data",
        dir.join("tiny.h5ad").to_str().unwrap(),
        "--json",
        b.to_str().unwrap(),
    ]));
    let key = "test_pearson_delta";
    assert_eq!(
        json(&b)["random_train_perturbation"][key],
        json(&run.join("metrics.json"))["random_train_perturbation"][key]
    );
}

#[test]
fn bf16_is_refused_on_the_cpu_in_one_line() {
    let dir = tempdir("edges-bf16");
    let cfg = tiny_config(&dir, "b");
    let o = train(&cfg, &["--set", "train.precision=bf16"])
        .output()
        .unwrap();
    one_line_error(&o, &["train.precision = \"bf16\": bf16 runs on a GPU"]);
    assert!(!run_dir(&dir, "b").exists(), "nothing is written");
    let o = train(&cfg, &["--set", "train.precision=fp16"])
        .output()
        .unwrap();
    one_line_error(
        &o,
        &["--set train.precision=fp16", "unknown variant `fp16`"],
    );
    let o = scgenept(&["bench", "step", "--precision", "bf16"]);
    one_line_error(&o, &["bf16 runs on a GPU"]);
}

/// A misspelt choice of fused attention kernels (`SCGENEPT_FUSED_KERNELS`) ends the command in one
/// line that lists the choices, rather than running other kernels than the user asked for.
#[test]
fn an_unknown_fused_kernel_choice_is_refused_in_one_line() {
    let o = std::process::Command::new(crate::common::bin())
        .args(["bench", "plan", "--size", "small"])
        .env("SCGENEPT_FUSED_KERNELS", "tensor_cores")
        .env_remove("SCGENEPT_GPU_ATTENTION")
        .output()
        .unwrap();
    one_line_error(
        &o,
        &[
            "SCGENEPT_FUSED_KERNELS=tensor_cores is not a kernel choice",
            "auto, portable, tiles, tensor-cores",
        ],
    );
}

/// Bundles exported to `checkpoints/NAME` never show up as untracked files; the folder's README
/// is tracked and current.
#[test]
fn bundles_in_checkpoints_are_ignored_by_git_and_its_readme_is_not() {
    let root = crate::common::root();
    let ignored = |p: &str| {
        std::process::Command::new("git")
            .args(["check-ignore", "-q", p])
            .current_dir(&root)
            .status()
            .expect("git runs (the tests run in a git checkout)")
            .code()
    };
    assert_eq!(ignored("checkpoints/demo_go_c/model.safetensors"), Some(0));
    assert_eq!(ignored("checkpoints/README.md"), Some(1));
    let readme = std::fs::read_to_string(root.join("checkpoints/README.md")).unwrap();
    assert!(!readme.contains("once training lands"), "{readme}");
}

#[test]
fn predict_and_export_run_on_the_device_asked_for_and_refuse_one_this_build_lacks() {
    let dir = tempdir("edges-device");
    let cfg = tiny_config(&dir, "d");
    ok(&train(&cfg, &["--set", "train.epochs=1"]).output().unwrap());
    let run = run_dir(&dir, "d");
    let bundle = dir.join("bundle");
    let (run_s, bundle_s) = (run.to_str().unwrap(), bundle.to_str().unwrap());
    let export = |device: &str| {
        scgenept(&[
            "export", "--run", run_s, "--out", bundle_s, "--device", device,
        ])
    };
    ok(&export("cpu"));
    let out = dir.join("p.csv");
    let predict = |device: &str| {
        scgenept(&[
            "predict",
            "--checkpoint",
            bundle_s,
            "--perturbations",
            "MLANA",
            "--pool-size",
            "4",
            "--out",
            out.to_str().unwrap(),
            "--device",
            device,
        ])
    };
    let text = ok(&predict("cpu"));
    assert!(text.contains("predicted 1 perturbation(s)"), "{text}");
    assert!(out.exists());
    std::fs::remove_file(&out).unwrap();
    // This test binary is built for the CPU only (the default features).
    one_line_error(
        &predict("cuda"),
        &["without CUDA support", "--features cuda"],
    );
    assert!(!out.exists(), "nothing written on a refused device");
    let other = dir.join("bundle2");
    let o = scgenept(&[
        "export",
        "--run",
        run_s,
        "--out",
        other.to_str().unwrap(),
        "--device",
        "wgpu",
    ]);
    one_line_error(&o, &["without", "wgpu"]);
    assert!(!other.exists(), "no bundle from a refused device");
}

/// `--out` on a device or a directory (issue 27, case 1): a character device is written in place
/// and stays a device (as root, a rename would have replaced it with a file); a directory is
/// refused in one line and stays a directory. Every writer goes through
/// `scgenept_data::files::write_atomic` (figures too: `plots.rs` has its own test).
#[test]
fn out_never_replaces_a_device_or_a_directory() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempdir("devnode");
    let dev = dir.join("null.h5ad");
    let made = std::process::Command::new("mknod")
        .args([dev.to_str().unwrap(), "c", "1", "3"])
        .status()
        .expect("mknod runs");
    assert!(made.success(), "mknod needs root (CI runs as root)");
    ok(&synth_tiny(&dev));
    let kind = std::fs::metadata(&dev).unwrap().file_type();
    assert!(kind.is_char_device(), "{dev:?} is no longer a device");
    let folder = dir.join("folder.h5ad");
    std::fs::create_dir_all(&folder).unwrap();
    let o = synth_tiny(&folder);
    one_line_error(&o, &["folder.h5ad", "is a directory", "give a file path"]);
    assert!(folder.is_dir());
}

/// `train --overwrite` with a model setting that cannot build a network (issue 27, case 2):
/// refused in one line before the finished run is touched, so its `metrics.json` and resume
/// checkpoint stay and a plain `train` still says the run is finished.
#[test]
fn overwrite_validates_the_whole_config_before_deleting_anything() {
    let dir = tempdir("overwrite-validate");
    let cfg = tiny_config(&dir, "ov");
    ok(&train(&cfg, &["--set", "train.epochs=1"]).output().unwrap());
    let run = run_dir(&dir, "ov");
    assert!(run.join("metrics.json").is_file());
    for (set, needle) in [
        ("model.nhead=3", "divisible by nhead"),
        ("model.dropout=1.5", "dropout"),
        ("model.d_model=0", "must be positive"),
    ] {
        let o = train(
            &cfg,
            &["--overwrite", "--set", "train.epochs=1", "--set", set],
        )
        .output()
        .unwrap();
        one_line_error(&o, &[needle]);
        assert!(
            run.join("metrics.json").is_file(),
            "{set} deleted metrics.json"
        );
    }
    let o = train(&cfg, &["--set", "train.epochs=1"]).output().unwrap();
    one_line_error(&o, &["holds a finished run"]);
}

/// `train --config` on a sweep file says which command runs it (issue 27, case 6).
#[test]
fn train_on_a_sweep_config_names_the_sweep_command() {
    let o = scgenept_at_root(&["train", "--config", "configs/sweeps/demo.toml"]);
    one_line_error(&o, &["is a sweep config", "scgenept sweep --config"]);
}

/// `data inspect` (and `data.path`) on a directory says so, not "bad signature" (issue 27, case 6).
#[test]
fn a_data_path_that_is_a_directory_is_named_as_one() {
    let dir = tempdir("data-dir");
    let o = scgenept(&["data", "inspect", dir.to_str().unwrap()]);
    one_line_error(&o, &["is a directory", ".h5ad file inside it"]);
}

/// `knowledge import` of a table whose symbols are in the wrong case (issue 27, case 6): written
/// as given, with a warning that names the symbols they probably are.
#[test]
fn imported_symbols_in_another_case_are_named() {
    let dir = tempdir("import-case");
    let csv = dir.join("table.csv");
    std::fs::write(&csv, "klf1,0.1,0.2\nFOSB,0.3,0.4\nNOT_A_GENE,0.5,0.6\n").unwrap();
    let out = dir.join("table.safetensors");
    let o = scgenept(&[
        "knowledge",
        "import",
        csv.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let said = ok(&o);
    assert!(
        said.contains("1 gene(s) match a known symbol only in another case")
            && said.contains("klf1 → KLF1"),
        "{said}"
    );
    assert!(out.is_file());
}

/// `scgenept … | head -1`: the reader of stdout goes away before the command has printed. The
/// command ends quietly with status 0, not with an "internal failure … this is a bug" line.
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let genes = root().join("tests/fixtures/h5ad/ad08_gears.h5ad");
    let mut child = std::process::Command::new(bin())
        .args(["knowledge", "coverage", "--genes", genes.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{:?}: {err}", o.status);
    assert!(!err.contains("internal failure"), "{err}");
}
