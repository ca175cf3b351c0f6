//! The GEARS simulation split, bit-exact: numpy's legacy RNG against values numpy printed, the
//! split against the real GEARS 0.0.2 `DataSplitter` (`scripts/make_split_fixtures.py`), and the
//! real published splits (scGenePT's subgroup pickles for Adamson and Norman).

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::common::{json_strings, tempdir};
use scgenept_data::numpy_rng::LegacyRandomState;
use scgenept_data::split_file::{load_split, save_split_json};
use scgenept_data::{GearsSplit, SimulationSplitConfig, Subgroups};
use serde_json::Value;

fn fixtures() -> PathBuf {
    crate::common::fixture("split")
}

fn json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join(name)).unwrap()).unwrap()
}

fn set(v: &[String]) -> BTreeSet<String> {
    v.iter().cloned().collect()
}

#[test]
fn legacy_random_state_matches_numpy() {
    let fx = json("numpy_rng.json");
    for case in fx["cases"].as_array().unwrap() {
        let seed = case["seed"].as_u64().unwrap() as u32;
        let mut rng = LegacyRandomState::seed(seed);
        let raw: Vec<u64> = (0..8).map(|_| rng.next_u32() as u64).collect();
        let want: Vec<u64> = case["raw"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        assert_eq!(raw, want, "raw stream, seed {seed}");

        // numpy draws the permutations one after another from the same state.
        let mut rng = LegacyRandomState::seed(seed);
        for n in [1usize, 2, 7, 86, 105, 1000] {
            let want: Vec<usize> = case["permutations"][n.to_string()]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(rng.permutation(n), want, "permutation({n}), seed {seed}");
        }

        let pool: Vec<String> = (0..50).map(|i| format!("G{i}")).collect();
        let mut rng = LegacyRandomState::seed(seed);
        let got = rng.choice_without_replacement(&pool, 37);
        assert_eq!(
            got,
            json_strings(&case["choice_50_37"]),
            "choice, seed {seed}"
        );
    }
}

fn check_against_gears(file: &str) {
    let fx = json(file);
    let conditions = json_strings(&fx["conditions"]);
    let cfg = SimulationSplitConfig {
        seed: fx["seed"].as_u64().unwrap() as u32,
        train_gene_set_size: fx["train_gene_set_size"].as_f64().unwrap(),
        combo_seen2_train_frac: 0.75,
    };
    let split = GearsSplit::simulation(&conditions, cfg);
    // GEARS' split pickle lists conditions in obs order; ours in GEARS' list order: compare sets.
    for (name, ours) in [
        ("train", &split.train),
        ("val", &split.val),
        ("test", &split.test),
    ] {
        assert_eq!(set(ours), set(&json_strings(&fx[name])), "{file}: {name}");
    }
    // Subgroup lists are compared in order: they are GEARS' lists as returned.
    for name in Subgroups::GEARS {
        assert_eq!(
            split.test_subgroup.get(name).unwrap(),
            json_strings(&fx["test_subgroup"][name]).as_slice(),
            "{file}: test {name}"
        );
        assert_eq!(
            split.val_subgroup.get(name).unwrap(),
            json_strings(&fx["val_subgroup"][name]).as_slice(),
            "{file}: val {name}"
        );
    }
    split.validate(&conditions).unwrap();
}

#[test]
fn simulation_split_equals_real_gears() {
    for file in [
        "gears_adamson_seed1.json",
        "gears_norman_normalized_seed1.json",
        "gears_norman_normalized_seed2.json",
        "gears_synthetic_seed1.json",
        "gears_synthetic_seed5.json",
    ] {
        check_against_gears(file);
    }
}

fn lines(name: &str) -> Vec<String> {
    std::fs::read_to_string(fixtures().join(name))
        .unwrap()
        .split_whitespace()
        .map(String::from)
        .collect()
}

#[test]
fn adamson_reproduces_the_published_split() {
    let conditions = lines("adamson_conditions.txt");
    assert_eq!(conditions.len(), 87);
    let ours = GearsSplit::simulation(&conditions, SimulationSplitConfig::default());
    let published = load_split(
        &fixtures().join("adamson_pert_data_subgroups.pkl"),
        &conditions,
    )
    .expect("published Adamson split loads");
    assert_eq!(ours.test.len(), 22);
    assert_eq!(ours.val.len(), 7);
    // 86 target genes: 22 to test, 7 of the remaining 64 to val, 57 single perturbations + ctrl.
    assert_eq!(ours.train.len(), 57 + 1);
    assert_eq!(set(&ours.test), set(&published.test));
    assert_eq!(set(&ours.val), set(&published.val));
    assert_eq!(set(&ours.train), set(&published.train));
    for name in Subgroups::GEARS {
        assert_eq!(
            set(ours.test_subgroup.get(name).unwrap()),
            set(published.test_subgroup.get(name).unwrap()),
            "test {name}"
        );
    }
}

/// Sorts the genes within a condition: GEARS' raw Norman names mix `A+B`/`B+A` and
/// `A+ctrl`/`ctrl+A`; the condition list we have is normalised that way.
fn normalise(c: &str) -> String {
    let mut g: Vec<&str> = c.split('+').filter(|g| *g != "ctrl").collect();
    g.sort();
    if g.len() == 1 {
        format!("{}+ctrl", g[0])
    } else {
        g.join("+")
    }
}

#[test]
fn norman_gene_level_draw_matches_the_published_split() {
    let mut conditions = lines("norman_conditions_normalized.txt");
    conditions.push("ctrl".into());
    let ours = GearsSplit::simulation(&conditions, SimulationSplitConfig::default());
    let published = scgenept_data::pickle::read_string_tree_pickle(
        &fixtures().join("norman_pert_data_subgroups.pkl"),
    )
    .unwrap();
    let scgenept_data::pickle::StringTree::Dict(items) = published else {
        panic!("dict expected")
    };
    let test = items.iter().find(|(k, _)| k == "test_subgroup").unwrap();
    let scgenept_data::pickle::StringTree::Dict(test) = &test.1 else {
        panic!("dict expected")
    };
    let get = |name: &str| -> BTreeSet<String> {
        let (_, v) = test.iter().find(|(k, _)| k == name).unwrap();
        let scgenept_data::pickle::StringTree::List(l) = v else {
            panic!("list expected")
        };
        l.iter().map(|c| normalise(c)).collect()
    };
    let norm = |v: &[String]| -> BTreeSet<String> { v.iter().map(|c| normalise(c)).collect() };
    // The 27 unseen test genes come from the gene-level draw over the 105 genes.
    let genes = |s: &BTreeSet<String>| -> BTreeSet<String> {
        s.iter()
            .flat_map(|c| c.split('+').map(String::from).collect::<Vec<_>>())
            .filter(|g| g != "ctrl")
            .collect()
    };
    let unseen = genes(&norm(&ours.test_subgroup.unseen_single));
    assert_eq!(unseen.len(), 27);
    assert_eq!(unseen, genes(&get("unseen_single")));
    // Membership of combo_seen0/1 follows from the gene draw alone; seen2 depends on how each pair
    // is spelled in the raw file (the draw runs over sorted names), which the list normalises.
    assert_eq!(norm(&ours.test_subgroup.combo_seen0), get("combo_seen0"));
    assert_eq!(norm(&ours.test_subgroup.combo_seen1), get("combo_seen1"));
    assert_eq!(ours.test_subgroup.combo_seen2.len(), 18);
}

#[test]
fn gears_split_pickles_and_json_round_trip() {
    let conditions = json_strings(&json("tiny_conditions.json"));
    let from_pkl = load_split(&fixtures().join("tiny_simulation_1_0.75.pkl"), &conditions)
        .expect("GEARS split pickles load");
    let ours = GearsSplit::simulation(&conditions, SimulationSplitConfig::default());
    assert_eq!(set(&from_pkl.train), set(&ours.train));
    assert_eq!(set(&from_pkl.test), set(&ours.test));
    assert_eq!(from_pkl.test_subgroup, ours.test_subgroup);
    assert_eq!(from_pkl.val_subgroup, ours.val_subgroup);

    let dir = tempdir("split-split_json");
    let path = dir.join("split.json");
    save_split_json(&ours, &path).unwrap();
    assert_eq!(load_split(&path, &conditions).unwrap(), ours);
}

#[test]
fn bad_split_files_are_refused_clearly() {
    let conditions = json_strings(&json("tiny_conditions.json"));
    let dir = tempdir("split-split_bad");
    // A split naming conditions the dataset lacks.
    let adamson = fixtures().join("adamson_pert_data_subgroups.pkl");
    let e = load_split(&adamson, &conditions).unwrap_err().to_string();
    assert!(
        e.contains("does not have") && e.contains("adamson_pert_data_subgroups.pkl"),
        "{e}"
    );
    // Missing subgroup sibling.
    let lonely = dir.join("x_simulation_1_0.75.pkl");
    std::fs::copy(fixtures().join("tiny_simulation_1_0.75.pkl"), &lonely).unwrap();
    let e = load_split(&lonely, &conditions).unwrap_err().to_string();
    assert!(e.contains("subgroup file"), "{e}");
    // Garbage and wrong JSON.
    let junk = dir.join("junk.pkl");
    std::fs::write(&junk, b"\x80\x04garbage").unwrap();
    let e = load_split(&junk, &conditions).unwrap_err().to_string();
    assert!(e.contains("junk.pkl"), "{e}");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, br#"{"train": 3}"#).unwrap();
    let e = load_split(&bad, &conditions).unwrap_err().to_string();
    assert!(
        e.contains("bad.json") && e.contains("not a split file"),
        "{e}"
    );
    let missing = dir.join("missing.json");
    assert!(load_split(&missing, &conditions).is_err());
}
