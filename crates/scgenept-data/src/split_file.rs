//! Splits as data: our JSON, GEARS' own split pickles (`{name}_simulation_{seed}_{frac}.pkl` plus
//! `…_subgroup.pkl`), and scGenePT's subgroup-only pickles (`*_pert_data_subgroups.pkl`). A user's
//! existing split is used as it is, never re-derived.

use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};
use crate::files::write_atomic;
use crate::pickle::{read_string_tree_pickle, StringTree};
use crate::split::{GearsSplit, Subgroups};

/// Reads a split from `.json` or `.pkl` and checks it against the dataset's `conditions`.
pub fn load_split(path: &Path, conditions: &[String]) -> Result<GearsSplit> {
    let split = match path.extension().and_then(|e| e.to_str()) {
        Some("json") => {
            let text =
                std::fs::read_to_string(path).map_err(|e| DataError::at(path, e.to_string()))?;
            serde_json::from_str(&text).map_err(|e| {
                DataError::at(path, format!("not a split file ({e}); expected {{\"train\":[…],\"val\":[…],\"test\":[…],\"test_subgroup\":{{…}},\"val_subgroup\":{{…}}}}"))
            })?
        }
        Some("pkl") | Some("pickle") => load_pickle(path, conditions)?,
        _ => return Err(DataError::at(
            path,
            "unknown split format; use a .json written by `scgenept data split` or a GEARS .pkl",
        )),
    };
    split
        .validate(conditions)
        .map_err(|reason| DataError::at(path, reason))?;
    Ok(split)
}

/// Writes the split as JSON, atomically.
pub fn save_split_json(split: &GearsSplit, path: &Path) -> Result<()> {
    let text = serde_json::to_string_pretty(split).expect("a split serialises");
    write_atomic(path, text.as_bytes()).map_err(|e| DataError::at(path, e.to_string()))
}

fn dict(tree: StringTree, path: &Path) -> Result<Vec<(String, StringTree)>> {
    match tree {
        StringTree::Dict(items) => Ok(items),
        _ => Err(DataError::at(path, "the pickle is not a dict")),
    }
}

fn subgroups(tree: StringTree, path: &Path, key: &str) -> Result<Subgroups> {
    let mut out = Subgroups::default();
    for (name, v) in dict(tree, path)? {
        let StringTree::List(list) = v else {
            return Err(DataError::at(
                path,
                format!("{key}.{name} is not a list of conditions"),
            ));
        };
        let slot = out.get_mut(&name).ok_or_else(|| {
            DataError::at(
                path,
                format!(
                    "{key} has an unknown subgroup '{name}' (expected {})",
                    Subgroups::GEARS.join(", ")
                ),
            )
        })?;
        *slot = list;
    }
    Ok(out)
}

fn subgroup_pair(items: Vec<(String, StringTree)>, path: &Path) -> Result<(Subgroups, Subgroups)> {
    let (mut test, mut val) = (None, None);
    for (k, v) in items {
        match k.as_str() {
            "test_subgroup" => test = Some(subgroups(v, path, &k)?),
            "val_subgroup" => val = Some(subgroups(v, path, &k)?),
            _ => {}
        }
    }
    match (test, val) {
        (Some(t), Some(v)) => Ok((t, v)),
        _ => Err(DataError::at(
            path,
            "a subgroup pickle needs 'test_subgroup' and 'val_subgroup'",
        )),
    }
}

/// GEARS names the subgroup file after the split file: `x.pkl` → `x_subgroup.pkl`.
fn subgroup_path(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!("{stem}_subgroup.pkl"))
}

fn load_pickle(path: &Path, conditions: &[String]) -> Result<GearsSplit> {
    let tree = read_string_tree_pickle(path).map_err(|e| DataError::new(e.path, e.reason))?;
    let items = dict(tree, path)?;
    if items.iter().any(|(k, _)| k == "test_subgroup") {
        let (test, val) = subgroup_pair(items, path)?;
        return Ok(GearsSplit::from_subgroups(conditions, test, val));
    }
    let mut lists = std::collections::BTreeMap::new();
    for (k, v) in items {
        if let StringTree::List(l) = v {
            lists.insert(k, l);
        }
    }
    let (Some(train), Some(val), Some(test)) = (
        lists.remove("train"),
        lists.remove("val"),
        lists.remove("test"),
    ) else {
        return Err(DataError::at(
            path,
            "not a GEARS split pickle: expected the keys train/val/test (or test_subgroup/val_subgroup)",
        ));
    };
    let sub_path = subgroup_path(path);
    let (test_subgroup, val_subgroup) = if sub_path.exists() {
        let tree =
            read_string_tree_pickle(&sub_path).map_err(|e| DataError::new(e.path, e.reason))?;
        subgroup_pair(dict(tree, &sub_path)?, &sub_path)?
    } else {
        return Err(DataError::at(
            path,
            format!(
                "its subgroup file {} is missing; GEARS writes both files side by side",
                sub_path.display()
            ),
        ));
    };
    Ok(GearsSplit {
        train,
        val,
        test,
        test_subgroup,
        val_subgroup,
    })
}
