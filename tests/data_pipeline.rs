//! The synthetic generator (determinism, what real anndata reads from it, realism), control
//! pairing and gene-sampled batches.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use scgenept_data::batches::{
    build_batch, condition_pert_genes, epoch_plan, BatchConfig, BatchLoader, GeneSampling,
};
use scgenept_data::cells::CellStorage;
use scgenept_data::de::compute_de_keys;
use scgenept_data::pairing::pair_controls;
use scgenept_data::perturb_data::condition_genes;
use scgenept_data::synth::config::{SynthConfig, SynthPreset};
use scgenept_data::synth::generate;
use scgenept_data::synth::write::write_synthetic;
use scgenept_data::{GearsSplit, ObsColumns, PerturbData, SimulationSplitConfig, SplitName};
use scgenept_knowledge::{GeneText, TextSource};

/// A file in this binary's one scratch directory.
fn tmp(name: &str) -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| crate::common::tempdir("pipeline"))
        .join(name)
}

fn tiny() -> (PathBuf, PerturbData) {
    // Written once for all tests of this binary (they run on parallel threads).
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let path = PATH
        .get_or_init(|| {
            let path = tmp("tiny_seed0.h5ad");
            write_synthetic(
                &SynthConfig::preset(SynthPreset::Tiny),
                0,
                &GeneText::embedded(),
                &path,
            )
            .unwrap();
            path
        })
        .clone();
    let d = PerturbData::load(&path, &ObsColumns::default()).unwrap();
    (path, d)
}

#[test]
fn synthetic_files_are_deterministic_small_and_self_consistent() {
    let (path, d) = tiny();
    let again = tmp("tiny_seed0_again.h5ad");
    write_synthetic(
        &SynthConfig::preset(SynthPreset::Tiny),
        0,
        &GeneText::embedded(),
        &again,
    )
    .unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(&again).unwrap(),
        "same seed, same bytes"
    );
    let other = tmp("tiny_seed1.h5ad");
    write_synthetic(
        &SynthConfig::preset(SynthPreset::Tiny),
        1,
        &GeneText::embedded(),
        &other,
    )
    .unwrap();
    assert_ne!(
        std::fs::read(&path).unwrap(),
        std::fs::read(&other).unwrap()
    );
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size < 1_000_000, "tiny preset is {size} bytes");
    assert!(d.synthetic.as_deref().unwrap().contains("SYNTHETIC"));
    assert!(!d.de_computed);
    let recomputed = compute_de_keys(
        d.x.in_memory().expect("a small file loads in memory"),
        &d.cell_condition,
        &d.condition_names,
        d.control_index(),
        &d.gene_ids,
    );
    assert_eq!(
        recomputed, d.de,
        "stored DE keys are the ones our DE code computes"
    );
    // The block-at-a-time writer writes what the in-memory generator draws, and the cells cache
    // reads back the same rows.
    let s = generate(
        &SynthConfig::preset(SynthPreset::Tiny),
        0,
        &GeneText::embedded(),
    )
    .unwrap();
    assert_eq!(d.x.in_memory().unwrap(), &s.x);
    let counts = scgenept_data::h5ad::H5ad::open(&path)
        .unwrap()
        .read_matrix("layers/counts")
        .unwrap();
    assert_eq!(counts, s.counts);
    let disk = PerturbData::load_with(&path, &ObsColumns::default(), CellStorage::Disk).unwrap();
    assert!(disk.x.in_memory().is_none());
    let all: Vec<usize> = (0..disk.n_cells()).collect();
    assert_eq!(disk.x.select_rows(&all), s.x);
    assert_eq!(disk.de, d.de);
    // Loads side by side (a sweep's runs) that all find no cache each build one; every one ends
    // with the cache, whichever rename came first.
    let copy = tmp("tiny_side_by_side.h5ad");
    std::fs::copy(&path, &copy).unwrap();
    let loads: Vec<_> = (0..4)
        .map(|_| {
            let copy = copy.clone();
            std::thread::spawn(move || {
                PerturbData::load_with(&copy, &ObsColumns::default(), CellStorage::Disk)
                    .map(|d| d.x.select_rows(&(0..d.n_cells()).collect::<Vec<_>>()))
            })
        })
        .collect();
    for l in loads {
        assert_eq!(l.join().unwrap().unwrap(), s.x);
    }
    // A cache whose source changed since (here its modification time) is rebuilt.
    let meta = path.with_file_name("tiny_seed0.h5ad.scgenept-cells/meta.json");
    let before = std::fs::read_to_string(&meta).unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000))
        .unwrap();
    let again = PerturbData::load_with(&path, &ObsColumns::default(), CellStorage::Disk).unwrap();
    assert_ne!(std::fs::read_to_string(&meta).unwrap(), before, "rebuilt");
    assert_eq!(again.x.select_rows(&all), s.x);
}

/// `scripts/check_synth_with_anndata.py` recorded what anndata 0.12.19 and 0.9.2 read from the
/// tiny seed-0 file; our reader must see the same file the same way.
#[test]
fn real_anndata_reads_what_we_write() {
    let (_, d) = tiny();
    let fx = crate::common::fixture("h5ad");
    for file in ["synth_tiny_anndata012.json", "synth_tiny_anndata09.json"] {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fx.join(file)).unwrap()).unwrap();
        assert_eq!(
            v["shape"],
            serde_json::json!([d.n_cells(), d.n_genes()]),
            "{file}"
        );
        let sum: f64 =
            d.x.in_memory()
                .expect("in memory")
                .data
                .iter()
                .map(|x| *x as f64)
                .sum();
        assert!(
            (sum - v["x_sum"].as_f64().unwrap()).abs() < 1e-3,
            "{file}: X sum"
        );
        let mut row0 = vec![0f32; d.n_genes()];
        d.x.row_into(0, &mut row0);
        let want: Vec<f32> = v["x_row0"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(row0, want, "{file}: X row 0");
        assert_eq!(v["condition_dtype"], "category");
        let mut counts = BTreeMap::new();
        for k in &d.cell_condition {
            *counts
                .entry(d.conditions[*k as usize].clone())
                .or_insert(0u64) += 1;
        }
        for (c, n) in v["conditions"].as_object().unwrap() {
            assert_eq!(counts[c], n.as_u64().unwrap(), "{file}: cells of {c}");
        }
        let names: Vec<String> = v["gene_names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, d.gene_names);
        let key = v["first_de_key"].as_str().unwrap();
        let top: Vec<String> = v["first_de_top20"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect();
        assert_eq!(d.de.top_non_dropout_de_20[key], top);
        assert!(v["synthetic"].as_str().unwrap().contains("SYNTHETIC"));
    }
}

fn delta(d: &PerturbData, k: usize) -> Vec<f64> {
    let by = d.cells_by_condition();
    let mean = |cells: &[u32]| -> Vec<f64> {
        let mut m = vec![0f64; d.n_genes()];
        for c in cells {
            let (cols, vals) = d.x.in_memory().expect("in memory").row(*c as usize);
            for (j, v) in cols.iter().zip(vals) {
                m[*j as usize] += *v as f64 / cells.len() as f64;
            }
        }
        m
    };
    let ctrl = mean(&by[d.control_index()]);
    mean(&by[k]).iter().zip(&ctrl).map(|(a, b)| a - b).collect()
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// Mean Δ-correlation between singles that share GO terms minus that of singles that share none.
fn go_structure(predictability: f64) -> (f64, f64, usize) {
    let mut cfg = SynthConfig::preset(SynthPreset::Demo);
    cfg.n_cells = 8_000;
    cfg.effects.predictability = predictability;
    let path = tmp(&format!("demo_p{predictability}.h5ad"));
    write_synthetic(&cfg, 3, &GeneText::embedded(), &path).unwrap();
    let d = PerturbData::load(&path, &ObsColumns::default()).unwrap();
    let text = GeneText::embedded();
    let singles: Vec<usize> = (0..d.conditions.len())
        .filter(|k| d.conditions[*k].ends_with("+ctrl"))
        .collect();
    let deltas: Vec<Vec<f64>> = singles.iter().map(|k| delta(&d, *k)).collect();
    let terms: Vec<HashSet<String>> = singles
        .iter()
        .map(|k| {
            let g = condition_genes(&d.conditions[*k])[0];
            text.go_terms(g, TextSource::GoAll)
                .map(|t| t.concat().into_iter().collect())
                .unwrap_or_default()
        })
        .collect();
    let (mut shared, mut none) = (vec![], vec![]);
    let mut up = 0;
    for (i, k) in singles.iter().enumerate() {
        let target = d.pert_gene_indices(&d.conditions[*k])[0];
        if deltas[i][target] > 0.0 {
            up += 1;
        }
        for j in i + 1..singles.len() {
            // Leave the two targets out: their own change is not the shared response.
            let keep: Vec<usize> = (0..d.n_genes())
                .filter(|g| *g != target && *g != d.pert_gene_indices(&d.conditions[singles[j]])[0])
                .collect();
            let a: Vec<f64> = keep.iter().map(|g| deltas[i][*g]).collect();
            let b: Vec<f64> = keep.iter().map(|g| deltas[j][*g]).collect();
            let r = pearson(&a, &b);
            let n_shared = terms[i].intersection(&terms[j]).count();
            if n_shared >= 3 {
                shared.push(r);
            } else if n_shared == 0 {
                none.push(r);
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    assert!(
        !shared.is_empty() && !none.is_empty(),
        "{} shared, {} none",
        shared.len(),
        none.len()
    );
    assert!(
        up * 10 >= singles.len() * 9,
        "CRISPRa raises the target in ≥90% of singles ({up}/{})",
        singles.len()
    );
    (mean(&shared), mean(&none), up)
}

#[test]
fn effects_follow_go_annotations_and_the_knob_controls_it() {
    let (shared, none, _) = go_structure(0.9);
    println!("predictability 0.9: Δ correlation, ≥3 shared GO terms {shared:.3} vs none {none:.3}");
    assert!(
        shared > none + 0.1,
        "genes sharing GO terms respond alike: {shared} vs {none}"
    );
    let (shared0, none0, _) = go_structure(0.0);
    println!("predictability 0.0: {shared0:.3} vs {none0:.3}");
    assert!(
        shared0 - none0 < (shared - none) / 2.0,
        "the knob removes the structure"
    );
}

#[test]
fn sparsity_is_like_real_perturb_seq() {
    let cfg = SynthConfig::preset(SynthPreset::Demo);
    let s = generate(&cfg, 0, &GeneText::embedded()).unwrap();
    let frac = s.x.nnz() as f64 / (s.x.n_rows * s.x.n_cols) as f64;
    // Norman's X: 37.3M non-zeros in 91,205 × 5,045 = 8.1%.
    assert!((0.04..0.2).contains(&frac), "non-zero fraction {frac}");
    assert_eq!(s.x.n_rows, 4_000);
    assert!(s.x.data.iter().all(|v| v.is_finite() && *v > 0.0));
}

fn tiny_split(d: &PerturbData) -> GearsSplit {
    GearsSplit::simulation(&d.conditions, SimulationSplitConfig::default())
}

#[test]
fn controls_are_paired_once_and_deterministically() {
    let (_, d) = tiny();
    let split = tiny_split(&d);
    let ctrl = d.control_index() as u32;
    let train = pair_controls(&d, &split, SplitName::Train, 42);
    let test = pair_controls(&d, &split, SplitName::Test, 42);
    assert_eq!(
        train.examples,
        pair_controls(&d, &split, SplitName::Train, 42).examples
    );
    assert_ne!(
        train.examples,
        pair_controls(&d, &split, SplitName::Train, 7).examples
    );
    let in_train: usize = d
        .cell_condition
        .iter()
        .filter(|k| split.train.contains(&d.conditions[**k as usize]))
        .count();
    assert_eq!(train.examples.len(), in_train);
    for e in train.examples.iter().chain(&test.examples) {
        assert_eq!(
            d.cell_condition[e.control as usize], ctrl,
            "inputs are control cells"
        );
        if e.condition == ctrl {
            assert_eq!(e.cell, e.control, "ctrl maps to itself");
        }
    }
    assert!(
        test.examples.iter().all(|e| e.condition != ctrl),
        "ctrl is train only"
    );
}

#[test]
fn batches_sample_genes_and_set_flags() {
    let (_, d) = tiny();
    let d = Arc::new(d);
    let split = tiny_split(&d);
    let set = Arc::new(pair_controls(&d, &split, SplitName::Train, 0));
    let pert = condition_pert_genes(&d);
    for sampling in [
        GeneSampling::Reference,
        GeneSampling::IncludePerturbed,
        GeneSampling::All,
    ] {
        let cfg = BatchConfig {
            batch_size: 16,
            max_seq_len: 24,
            sampling,
            shuffle: true,
            drop_last: true,
            seed: 5,
        };
        let plan = epoch_plan(&set, &cfg, 0);
        assert_eq!(plan.len(), set.examples.len() / 16, "drop_last");
        let mut covered = 0;
        let mut perturbed = 0;
        for (i, ex) in plan.iter().enumerate() {
            let b = build_batch(&d, &pert, ex.clone(), &cfg, 0, i);
            let l = b.seq_len();
            assert_eq!(
                l,
                if sampling == GeneSampling::All {
                    d.n_genes()
                } else {
                    24
                }
            );
            let uniq: HashSet<u32> = b.genes.iter().copied().collect();
            assert_eq!(uniq.len(), l, "no gene twice");
            let mut row = vec![0f32; d.n_genes()];
            for (r, e) in b.examples.iter().enumerate() {
                d.x.row_into(e.control as usize, &mut row);
                for (p, j) in b.genes.iter().enumerate() {
                    assert_eq!(b.values[r * l + p], row[*j as usize]);
                }
                let flagged: Vec<u32> = (0..l)
                    .filter(|p| b.flags[r * l + p] == 1)
                    .map(|p| b.genes[p])
                    .collect();
                let want: Vec<u32> = pert[e.condition as usize]
                    .iter()
                    .copied()
                    .filter(|j| uniq.contains(j))
                    .collect();
                let mut f = flagged.clone();
                f.sort();
                let mut w = want.clone();
                w.sort();
                assert_eq!(f, w, "flags exactly at the perturbed genes in the sequence");
                if !pert[e.condition as usize].is_empty() {
                    perturbed += 1;
                    covered += (flagged.len() == pert[e.condition as usize].len()) as usize;
                }
            }
        }
        match sampling {
            GeneSampling::Reference => assert!(
                covered < perturbed,
                "reference mode drops flags (scGPT #298)"
            ),
            _ => assert_eq!(
                covered, perturbed,
                "{sampling:?} keeps every perturbed gene"
            ),
        }
        // The loader thread yields the same batches, and resumes mid-epoch.
        let all: Vec<_> =
            BatchLoader::spawn(d.clone(), set.clone(), cfg.clone(), 0, 0, 2).collect();
        assert_eq!(all.len(), plan.len());
        assert_eq!(all[1], build_batch(&d, &pert, plan[1].clone(), &cfg, 0, 1));
        let tail: Vec<_> =
            BatchLoader::spawn(d.clone(), set.clone(), cfg.clone(), 0, 2, 2).collect();
        assert_eq!(tail, all[2..].to_vec());
        let next_epoch: Vec<_> = BatchLoader::spawn(d.clone(), set.clone(), cfg, 1, 0, 2).collect();
        assert_ne!(
            next_epoch[0].examples, all[0].examples,
            "reshuffled each epoch"
        );
    }
}

/// A transfer (docs/data.md): two datasets aligned by gene symbol keep their shared genes in the
/// source's order with the same values, conditions on dropped genes are reported, the cells cache
/// aligns like the in-memory matrix, and the split tests the whole target, grouped by what
/// training saw.
#[test]
fn transfer_aligns_genes_by_symbol_and_groups_tests_by_what_training_saw() {
    use scgenept_data::transfer::align_genes;
    let (_, source) = tiny();
    let other = tmp("tiny_seed1_transfer.h5ad");
    let cfg = SynthConfig::preset(SynthPreset::Tiny);
    write_synthetic(&cfg, 1, &GeneText::embedded(), &other).unwrap();
    let target = PerturbData::load(&other, &ObsColumns::default()).unwrap();
    let (a, b, report) = align_genes(&source, &target).unwrap();
    let shared: Vec<&String> = (source.gene_names.iter())
        .filter(|g| target.gene_names.contains(g))
        .collect();
    assert!(
        !shared.is_empty() && shared.len() < source.n_genes(),
        "{report:?}"
    );
    assert_eq!(report.genes_kept, shared.len());
    assert_eq!(a.gene_names.iter().collect::<Vec<_>>(), shared);
    assert_eq!(b.gene_names, a.gene_names);
    assert_eq!(report.source_only.len() + shared.len(), source.n_genes());
    assert_eq!(report.target_only.len() + shared.len(), target.n_genes());
    // Values follow their genes.
    let (mut full, mut kept) = (vec![0f32; target.n_genes()], vec![0f32; b.n_genes()]);
    for cell in [0, 7, 99] {
        target.x.row_into(cell, &mut full);
        b.x.row_into(cell, &mut kept);
        for (j, g) in b.gene_names.iter().enumerate() {
            let t = target.gene_names.iter().position(|x| x == g).unwrap();
            assert_eq!(kept[j], full[t], "cell {cell}, gene {g}");
        }
    }
    let unflaggable: Vec<String> = (target.conditions.iter())
        .filter(|c| {
            c.as_str() != "ctrl"
                && condition_genes(c)
                    .iter()
                    .any(|g| !b.gene_names.iter().any(|x| x == g))
        })
        .cloned()
        .collect();
    assert_eq!(report.target_conditions_dropped, unflaggable);
    // The cells cache aligns to the same matrix.
    let on_disk =
        PerturbData::load_with(&other, &ObsColumns::default(), CellStorage::Disk).unwrap();
    let (_, b_disk, _) = align_genes(&source, &on_disk).unwrap();
    let all: Vec<usize> = (0..b.n_cells()).collect();
    assert_eq!(b_disk.x.select_rows(&all), b.x.select_rows(&all));
    // DE keys restricted to every gene are the keys.
    let every: Vec<usize> = (0..source.n_genes()).collect();
    assert_eq!(source.de.restrict(&source.gene_ids, &every), source.de);
    let de = b.de_idx(&b.flaggable_conditions()[0]).unwrap();
    assert_eq!(
        de.len(),
        b.n_genes().min(20),
        "top DE genes among the kept ones"
    );
    // The split: train and val from the source, the whole flaggable target as test.
    let split = GearsSplit::transfer(
        &a.flaggable_conditions(),
        &b.flaggable_conditions(),
        SimulationSplitConfig::default(),
    );
    assert_eq!(split.test, b.flaggable_conditions());
    let trained: HashSet<&str> = (split.train.iter())
        .filter(|c| c.as_str() != "ctrl")
        .flat_map(|c| condition_genes(c))
        .collect();
    for c in &split.test_subgroup.seen_single {
        assert!(trained.contains(condition_genes(c)[0]), "{c}");
    }
    for c in &split.test_subgroup.unseen_single {
        assert!(!trained.contains(condition_genes(c)[0]), "{c}");
    }
    let sub = &split.test_subgroup;
    println!(
        "{}; test: {} seen singles, {} unseen singles, combos seen 0/1/2: {}/{}/{}",
        report.summary(),
        sub.seen_single.len(),
        sub.unseen_single.len(),
        sub.combo_seen0.len(),
        sub.combo_seen1.len(),
        sub.combo_seen2.len()
    );
    assert!(!sub.seen_single.is_empty() && !sub.unseen_single.is_empty());
    let grouped = split.test_subgroup.all().count();
    assert_eq!(
        grouped,
        split.test.len(),
        "every test perturbation has a subgroup"
    );
}

/// The Replogle-size presets (docs/data.md): singles only at the screens' sizes, and K562's
/// targets the first of RPE1's whatever the seed, so a transfer has shared and new perturbations.
#[test]
fn replogle_presets_are_single_screens_whose_targets_nest() {
    use scgenept_data::synth::plan;
    let text = GeneText::embedded();
    let plan_of = |preset, seed| {
        let mut cfg = SynthConfig::preset(preset);
        cfg.n_cells = 20_000; // the cells do not change genes or conditions
        (plan(&cfg, seed, &text).unwrap(), cfg)
    };
    let (k562, k_cfg) = plan_of(SynthPreset::ReplogleK562, 0);
    let (rpe1, r_cfg) = plan_of(SynthPreset::ReplogleRpe1, 7);
    for (p, genes, perts) in [(&k562, 8_563, 2_057), (&rpe1, 8_749, 2_393)] {
        assert_eq!(p.gene_names.len(), genes);
        assert_eq!(p.conditions.len(), perts + 1);
        assert!(
            p.conditions[1..].iter().all(|c| c.ends_with("+ctrl")),
            "singles only"
        );
    }
    assert_eq!(
        (k_cfg.cell_type.as_str(), r_cfg.cell_type.as_str()),
        ("K562", "rpe1")
    );
    let rpe1_targets: HashSet<&String> = rpe1.conditions[1..].iter().collect();
    assert!(k562.conditions[1..]
        .iter()
        .all(|c| rpe1_targets.contains(c)));
    let full = SynthConfig::preset(SynthPreset::ReplogleK562);
    assert_eq!(
        (
            full.n_cells,
            (full.ctrl_fraction * full.n_cells as f64).round()
        ),
        (310_385, 10_691.0)
    );
}
