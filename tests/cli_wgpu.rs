//! wgpu on a real Vulkan device (in CI, Mesa's CPU driver lavapipe, which `.ci/run` installs
//! with `scripts/install_vulkan.sh`): one epoch of the tiny config and a prediction, each equal
//! to the CPU's within 1e-4 relative. Built only with `--features wgpu`; without a Vulkan driver
//! it fails and says what to install.
#![cfg(feature = "wgpu")]

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{bin, json, ok, run_dir, stderr, tempdir, tiny_run_config};

/// Relative tolerance between the backends (f32 sums in another order; measured in
/// benches/README.md).
const TOLERANCE: f64 = 1e-4;
const LAVAPIPE: &str = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json";

/// `scgenept ARGS…`, pointed at lavapipe when the machine has it and nothing else is chosen.
fn run(args: &[&str]) -> Output {
    let mut c = Command::new(bin());
    c.args(args);
    if std::env::var_os("VK_ICD_FILENAMES").is_none() && Path::new(LAVAPIPE).exists() {
        c.env("VK_ICD_FILENAMES", LAVAPIPE);
    }
    c.output().expect("binary runs")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= TOLERANCE * a.abs().max(b.abs()).max(1e-3)
}

fn column(path: &Path, skip_cols: usize) -> Vec<f64> {
    (std::fs::read_to_string(path).unwrap().lines().skip(1))
        .flat_map(|l| {
            l.split(',')
                .skip(skip_cols)
                .map(|v| v.parse::<f64>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn wgpu_trains_and_predicts_as_the_cpu_does() {
    let dir = tempdir("wgpu");
    let sets = [("train.epochs", "1"), ("model.dropout", "0.0")];
    let mut runs = Vec::new();
    for device in ["cpu", "wgpu"] {
        let cfg = tiny_run_config(
            &dir.join(format!("{device}.toml")),
            device,
            "scgenept_random",
            &sets,
        );
        let o = run(&[
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--device",
            device,
        ]);
        if !o.status.success() && device == "wgpu" {
            panic!(
                "wgpu could not run here. It needs a Vulkan driver: on Debian, `apt-get install \
                 mesa-vulkan-drivers` (lavapipe, a CPU driver; .ci/run installs it with \
                 scripts/install_vulkan.sh). scgenept said: {}",
                stderr(&o).trim()
            );
        }
        ok(&o);
        runs.push(run_dir(&dir, device));
    }
    // Every step's loss and gradient norm (train_batches.csv after its two index columns), and
    // the validation loss, as on the CPU.
    let (cpu, gpu) = (
        column(&runs[0].join("train_batches.csv"), 2),
        column(&runs[1].join("train_batches.csv"), 2),
    );
    assert_eq!(cpu.len(), gpu.len());
    let worst = cpu
        .iter()
        .zip(&gpu)
        .map(|(a, b)| (a - b).abs() / a.abs())
        .fold(0.0, f64::max);
    eprintln!(
        "{} per-step losses and gradient norms, largest relative difference {worst:.2e}",
        cpu.len()
    );
    assert!(
        cpu.iter().zip(&gpu).all(|(a, b)| close(*a, *b)),
        "{cpu:?}\n{gpu:?}"
    );
    let val = |r: &Path| json(&r.join("run.json"))["best_val_loss"].as_f64().unwrap();
    assert!(
        close(val(&runs[0]), val(&runs[1])),
        "{} vs {}",
        val(&runs[0]),
        val(&runs[1])
    );

    // The CPU run's bundle predicts the same on wgpu.
    let bundle = dir.join("bundle");
    ok(&run(&[
        "export",
        "--run",
        runs[0].to_str().unwrap(),
        "--out",
        bundle.to_str().unwrap(),
    ]));
    let meta = json(&bundle.join("meta.json"));
    let perts = format!(
        "{},{}+{}",
        meta["genes"][0].as_str().unwrap(),
        meta["genes"][1].as_str().unwrap(),
        meta["genes"][2].as_str().unwrap()
    );
    let mut preds = Vec::new();
    for device in ["cpu", "wgpu"] {
        let out = dir.join(format!("pred_{device}.csv"));
        ok(&run(&[
            "predict",
            "--checkpoint",
            bundle.to_str().unwrap(),
            "--perturbations",
            &perts,
            "--out",
            out.to_str().unwrap(),
            "--device",
            device,
        ]));
        preds.push(column(&out, 1));
    }
    let worst = preds[0]
        .iter()
        .zip(&preds[1])
        .map(|(a, b)| (a - b).abs() / a.abs().max(1e-3))
        .fold(0.0, f64::max);
    eprintln!(
        "{} predicted values, largest relative difference {worst:.2e}",
        preds[0].len()
    );
    assert!(preds[0].iter().zip(&preds[1]).all(|(a, b)| close(*a, *b)));
}

/// Forcing the tensor-core kernels on a device without tensor cores (lavapipe) ends the command
/// in one line naming the choices that do run, instead of running other kernels.
#[test]
fn forced_tensor_cores_without_them_is_refused_in_one_line() {
    let mut c = Command::new(bin());
    c.args(["bench", "step", "--size", "small", "--device", "wgpu"])
        .args(["--batch", "1", "--warmup", "1", "--steps", "1"])
        .env("SCGENEPT_FUSED_KERNELS", "tensor-cores")
        .env_remove("RUST_BACKTRACE");
    if std::env::var_os("VK_ICD_FILENAMES").is_none() && Path::new(LAVAPIPE).exists() {
        c.env("VK_ICD_FILENAMES", LAVAPIPE);
    }
    let o = c.output().expect("binary runs");
    let err = stderr(&o);
    assert!(!o.status.success() && !err.contains("panicked"), "{err}");
    // Mesa's own complaint about XDG_RUNTIME_DIR aside, one error line: ours.
    let lines: Vec<&str> = (err.lines())
        .filter(|l| l.starts_with("error:") && !l.contains("XDG_RUNTIME_DIR"))
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
    for needle in [
        "SCGENEPT_FUSED_KERNELS=tensor-cores: this device has no tensor cores",
        "use auto, portable or tiles",
    ] {
        assert!(lines[0].contains(needle), "{err}");
    }
}

/// `bench step --json` on wgpu over several gene counts in one process (kernels compiled once),
/// with `SCGENEPT_ATTENTION_TILE=tile`: per length, (measured peak in use, plan), in MiB.
fn step_memory(
    dir: &Path,
    cache: &Path,
    batch: usize,
    genes: &[usize],
    tile: usize,
) -> Vec<(f64, f64)> {
    let out = dir.join("steps.json");
    let lengths: Vec<String> = genes.iter().map(|g| g.to_string()).collect();
    let mut c = Command::new(bin());
    c.args(["bench", "step", "--size", "small", "--device", "wgpu"])
        .args([
            "--batch",
            &batch.to_string(),
            "--seq-len",
            &lengths.join(","),
        ])
        .args([
            "--warmup",
            "1",
            "--steps",
            "1",
            "--json",
            out.to_str().unwrap(),
        ])
        .env("SCGENEPT_ATTENTION_TILE", tile.to_string())
        .env("SCGENEPT_CACHE", cache);
    if std::env::var_os("VK_ICD_FILENAMES").is_none() && Path::new(LAVAPIPE).exists() {
        c.env("VK_ICD_FILENAMES", LAVAPIPE);
    }
    ok(&c.output().expect("binary runs"));
    let all = json(&out);
    (all.as_array().expect("one result per length").iter())
        .map(|r| {
            (
                r["device_peak_in_use_mib"].as_f64().unwrap(),
                r["planned_peak_mib"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// The memory plan (`scgenept bench plan`, `memory_plan.rs`) against cubecl's allocator read-out
/// through forward and backward, at small shapes (64 and 256 genes, tiles of a few query rows):
/// within 15% (the plan follows the attention that runs, the fused kernels by default); and the
/// read-out grows linearly with the genes, as the plan does. (For the tiled op, where one
/// whole tile of scores makes the peak inside backward, the plan was within 4%:
/// benches/README.md, "Memory plan".) The run also shows the kernel cache (`kernel_cache.rs`) in
/// use: autotune results land in `$SCGENEPT_CACHE/cubecl/`.
#[test]
fn wgpu_memory_plan_matches_the_allocator() {
    let dir = tempdir("wgpu-plan");
    let cache = dir.join("cache");
    let genes = [64, 256];
    let measured = step_memory(&dir, &cache, 2, &genes, 16384);
    for (g, (used, plan)) in genes.iter().zip(&measured) {
        eprintln!(
            "batch 2 × {g} genes, 16384 scores per tile: allocator {used:.2} MiB, plan {plan:.2} \
             MiB ({:+.1}%)",
            100.0 * (plan - used) / used
        );
        assert!((plan - used).abs() <= 0.15 * used, "{used} vs plan {plan}");
    }
    let autotune = cache.join("cubecl").join("autotune");
    assert!(
        autotune.is_dir(),
        "no autotune cache under {}",
        cache.display()
    );
    // 64 → 256 genes: 4× the tokens. Linear memory gives at most 4× (the weights do not grow);
    // attention scores kept whole would give up to 16×.
    let growth = measured[1].0 / measured[0].0;
    eprintln!("64 → 256 genes: the allocator's peak grew {growth:.2}×");
    assert!(growth < 4.2, "grew {growth:.2}× for 4× the genes");
}

/// The fused kernels on lavapipe (`scgenept bench kernels`, `crates/scgenept-train/src/bench/
/// kernels/`): the attention's context, log-sum-exp and gradient against the host op at L = 1, 7,
/// 130 and 1,000, head widths 8, 16 and 64, batch 1 and 3, dropout 0 and 0.2, within 1e-5; two
/// runs bit for bit; f16 storage — each for the portable kernels and for the tile kernels with
/// their products on the units (at L = 1,000 only head width 8 with dropout); the hashed dropout against its host mask; the lean LayerNorm
/// against burn's. Every check is in the JSON with its worst difference and bound.
#[test]
fn fused_attention_kernels_equal_their_references_on_lavapipe() {
    let dir = tempdir("kernels");
    let out = dir.join("kernels.json");
    let o = run(&[
        "bench",
        "kernels",
        "--device",
        "wgpu",
        "--json",
        out.to_str().unwrap(),
    ]);
    println!("{}", String::from_utf8_lossy(&o.stdout));
    ok(&o);
    let report = json(&out);
    let checks = report["checks"].as_array().unwrap();
    let named = |part: &str| -> Vec<&serde_json::Value> {
        let has = |c: &&serde_json::Value| c["name"].as_str().unwrap().contains(part);
        checks.iter().filter(has).collect()
    };
    // The portable kernels' checks are named plainly; the tile kernels' (products on the units,
    // as on devices without tensor cores) begin with "tiles: ".
    let tiles = named("tiles: ");
    let portable = named("attention b ").len() - named("tiles: attention b ").len();
    assert_eq!(portable, 24, "4 lengths × 3 head widths × 2 dropouts");
    // The same shapes, but at L = 1,000 only head width 8 with dropout (no tensor cores here).
    assert_eq!(named("tiles: attention b ").len(), 19);
    for l in ["l 1 ", "l 7 ", "l 130 "] {
        assert_eq!(named(l).len(), 12, "{l}");
    }
    assert_eq!(named("l 1000 ").len(), 7);
    assert_eq!(
        named("tiles: attention b 1 l 1000 heads 2 dh 8 dropout 0.2").len(),
        1
    );
    assert_eq!(named("two runs").len(), 2, "portable and tiles");
    for c in named("two runs") {
        assert_eq!(c["worst"], 0.0, "{c}");
    }
    assert_eq!(named("attention in f16").len(), 6);
    assert_eq!(tiles.len(), 19 + 1 + 3);
    // lavapipe has no tensor cores: no check claims to have run them.
    assert!(named("tensor cores").is_empty());
    assert_eq!(
        named("dropout (").len(),
        3,
        "plain, ReLU, ReLU written in f16"
    );
    assert_eq!(named("dropout: share kept").len(), 1);
    assert_eq!(named("lean layer norm").len(), 1);
    for c in checks {
        let (worst, bound) = (c["worst"].as_f64().unwrap(), c["bound"].as_f64().unwrap());
        assert!(worst <= bound, "{c}");
    }
}
