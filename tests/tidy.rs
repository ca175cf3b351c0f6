//! The house rules, checked (in the style of rust-analyzer's `xtask/src/tidy.rs`): each rule reads
//! the sources as text, and a failure names the file and what to do.
//!
//! - no import circle between the modules of a crate, reading every `crate::` path (not only `use`
//!   lines); [`KNOWN_CIRCLES`] lists any that must be tolerated for a while (none today);
//! - no crate depends on one above it: data ← eval ← model ← knowledge ← train ← cli;
//! - no `.unwrap()` in library code outside tests;
//! - no function over 100 lines;
//! - no module over 600 lines (the pickle interpreter excepted);
//! - the training crate's root holds only `lib.rs`, its configuration and folders by concern;
//! - the control label is spelled once (`scgenept-data/src/condition.rs`): no other library
//!   code writes a `"ctrl"`, `"A+ctrl"`-style or `"ctrl_…"` literal;
//! - no AVX-512 float code on the CPU: no manifest turns on gemm's `x86-v4` or macerator's
//!   `avx512`, and macerator comes from `vendor/` without it (docs/features.md, reproducibility).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::common::root;

/// Crates from the bottom of the house up.
const LAYERS: [&str; 6] = [
    "scgenept-data",
    "scgenept-eval",
    "scgenept-model",
    "scgenept-knowledge",
    "scgenept-train",
    "scgenept-cli",
];

/// Import circles tolerated for a while, per crate (the two that predated this test are gone).
const KNOWN_CIRCLES: [(&str, &[&str]); 0] = [];

const MAX_FN_LINES: usize = 100;

/// The longest a module may be, in lines with its tests.
const MAX_MODULE_LINES: usize = 600;

/// Modules allowed to be longer: the pickle interpreter is one state machine over one opcode table.
const LONG_MODULES: [&str; 1] = ["crates/scgenept-data/src/pickle.rs"];

/// A crate's modules, path (`sweep::jobs`; a folder's `mod.rs` is the folder) → file and
/// source without its test module.
fn modules(krate: &str) -> BTreeMap<String, (PathBuf, String)> {
    let dir = root().join("crates").join(krate).join("src");
    let mut out = BTreeMap::new();
    collect_modules(&dir, "", &mut out);
    out
}

fn collect_modules(dir: &Path, prefix: &str, out: &mut BTreeMap<String, (PathBuf, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let join = |s: &str| match prefix {
            "" => s.to_string(),
            p => format!("{p}::{s}"),
        };
        if path.is_dir() {
            collect_modules(&path, &join(&stem), out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let name = match stem.as_str() {
                "mod" | "lib" | "main" => prefix.to_string(),
                s => join(s),
            };
            let text = std::fs::read_to_string(&path).unwrap();
            out.insert(name, (path, without_tests(&text)));
        }
    }
}

/// The source before its `#[cfg(test)]` (or `#[cfg(all(test, …))]`) module, comments removed.
fn without_tests(text: &str) -> String {
    let cut = ["#[cfg(test)]", "#[cfg(all(test"]
        .iter()
        .filter_map(|m| text.find(m))
        .min()
        .unwrap_or(text.len());
    (text[..cut].lines())
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Edges between the modules of one crate, from every `crate::a::b` and `super::a` path (each
/// resolved to the longest module path it names), not only from `use` lines.
fn edges(mods: &BTreeMap<String, (PathBuf, String)>) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges = BTreeMap::new();
    for (name, (_, text)) in mods {
        let parent = name.rsplit_once("::").map_or("", |(p, _)| p);
        let mut targets = BTreeSet::new();
        for (base, anchor) in [("crate::", String::new()), ("super::", parent.to_string())] {
            for (i, _) in text.match_indices(base) {
                if base == "crate::"
                    && text[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                {
                    continue;
                }
                let rest = &text[i + base.len()..];
                let target = resolve(mods, &anchor, rest);
                if let Some(t) = target.filter(|t| t != name && !t.is_empty()) {
                    targets.insert(t);
                }
            }
        }
        edges.insert(name.clone(), targets);
    }
    edges
}

/// The longest module named by the path `rest` (`a::b::Item …`) under `anchor`.
fn resolve(mods: &BTreeMap<String, (PathBuf, String)>, anchor: &str, rest: &str) -> Option<String> {
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(rest.len());
    let mut best = (!anchor.is_empty()).then(|| anchor.to_string());
    let mut path = anchor.to_string();
    for seg in rest[..end].split("::").filter(|s| !s.is_empty()) {
        path = if path.is_empty() {
            seg.to_string()
        } else {
            format!("{path}::{seg}")
        };
        if mods.contains_key(&path) {
            best = Some(path.clone());
        } else {
            break;
        }
    }
    best
}

/// The strongly connected components of more than one module (Tarjan).
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let i = t.index.len();
        t.index.insert(v, i);
        t.low.insert(v, i);
        t.stack.push(v);
        for w in &t.edges[v] {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                t.low.entry(v).and_modify(|l| *l = (*l).min(lw));
            } else if t.stack.contains(&w) {
                let iw = t.index[w];
                t.low.entry(v).and_modify(|l| *l = (*l).min(iw));
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn tidy_no_new_import_circles() {
    for krate in LAYERS {
        let found = circles(&edges(&modules(krate)));
        let known: Vec<Vec<String>> = (KNOWN_CIRCLES.iter())
            .filter(|(k, _)| *k == krate)
            .map(|(_, c)| c.iter().map(|s| s.to_string()).collect())
            .collect();
        for c in &found {
            assert!(
                known.contains(c),
                "{krate}: modules {c:?} import each other in a circle (through `crate::` \
                 paths); move what they share into a module both can import"
            );
        }
        for c in &known {
            assert!(
                found.contains(c),
                "{krate}: the circle {c:?} is gone; remove it from KNOWN_CIRCLES in tests/tidy.rs"
            );
        }
    }
}

#[test]
fn tidy_no_crate_depends_on_one_above_it() {
    for (level, krate) in LAYERS.iter().enumerate() {
        let manifest = root().join("crates").join(krate).join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        let table: toml::Table = toml::from_str(&text).unwrap();
        let deps = table.get("dependencies").and_then(|d| d.as_table());
        for dep in deps.into_iter().flat_map(|d| d.keys()) {
            if let Some(above) = LAYERS.iter().position(|l| l == dep) {
                assert!(
                    above < level,
                    "{}: {krate} depends on {dep}, which sits above it \
                     (data ← eval ← model ← knowledge ← train ← cli)",
                    manifest.display()
                );
            }
        }
    }
}

#[test]
fn tidy_no_unwrap_in_library_code() {
    for krate in &LAYERS[..5] {
        for (path, text) in modules(krate).values() {
            let n = text.matches(".unwrap()").count();
            assert_eq!(
                n,
                0,
                "{}: {n} `.unwrap()` outside tests; return an error with context, or `expect` \
                 with the invariant that makes it impossible",
                path.display()
            );
        }
    }
}

/// Functions (`fn` at the start of a line) and their length in lines, by brace matching.
fn functions(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_start();
        let t = t.strip_prefix("pub ").unwrap_or(t);
        let t = t.strip_prefix("pub(crate) ").unwrap_or(t);
        let Some(rest) = t.strip_prefix("fn ") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let (mut depth, mut opened) = (0i64, false);
        for (j, l) in lines.iter().enumerate().skip(i) {
            depth += l.matches('{').count() as i64 - l.matches('}').count() as i64;
            opened |= l.contains('{');
            if !opened && l.contains(';') {
                break;
            }
            if opened && depth <= 0 {
                out.push((name.clone(), j - i + 1));
                break;
            }
        }
    }
    out
}

#[test]
fn tidy_no_function_over_100_lines() {
    for krate in LAYERS {
        for (path, text) in modules(krate).values() {
            for (name, n) in functions(text) {
                assert!(
                    n <= MAX_FN_LINES,
                    "{}: fn {name} is {n} lines (at most {MAX_FN_LINES}); split it into steps a \
                     reader can hold",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn tidy_no_module_over_600_lines() {
    for krate in LAYERS {
        for (path, _) in modules(krate).values() {
            let rel = path
                .strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let n = std::fs::read_to_string(path).unwrap().lines().count();
            assert!(
                n <= MAX_MODULE_LINES || LONG_MODULES.contains(&rel.as_str()),
                "{rel}: {n} lines (at most {MAX_MODULE_LINES}); split it by concern into a folder"
            );
        }
    }
}

#[test]
fn tidy_training_crate_root_holds_folders() {
    let dir = root().join("crates/scgenept-train/src");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            path.is_dir() || ["lib.rs", "train_config.rs"].contains(&name.as_str()),
            "{}: the training crate's root holds only lib.rs, train_config.rs and folders by \
             concern (ARCHITECTURE.md, \"Code map\"); move it into the folder it belongs to",
            path.display()
        );
    }
}

/// The string literals of `code` (escapes kept as written).
fn string_literals(code: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut chars = code.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            // A char literal ('"') or a lifetime: skip the quoted char when it closes.
            let rest = &code[i + 1..];
            if rest.starts_with('"') && rest[1..].starts_with('\'') {
                chars.next();
                chars.next();
            }
            continue;
        }
        if c != '"' {
            continue;
        }
        let start = i + 1;
        let mut escaped = false;
        for (j, d) in chars.by_ref() {
            match d {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    out.push(&code[start..j]);
                    break;
                }
                _ => escaped = false,
            }
        }
    }
    out
}

/// A literal that spells the control label: `"ctrl"`, a condition with it (`"{g}+ctrl"`,
/// `"ctrl+…"`) or a control cell's name (`"ctrl_…"`); prose (with a space) is not code.
fn spells_control(lit: &str) -> bool {
    !lit.contains(' ')
        && (lit == "ctrl"
            || lit.contains("+ctrl")
            || lit.starts_with("ctrl+")
            || lit.starts_with("ctrl_"))
}

#[test]
fn tidy_control_label_spelled_once() {
    for krate in LAYERS {
        for (path, text) in modules(krate).values() {
            if path.ends_with("scgenept-data/src/condition.rs") {
                continue;
            }
            let found: Vec<&str> = (string_literals(text).into_iter())
                .filter(|l| spells_control(l))
                .collect();
            assert!(
                found.is_empty(),
                "{}: {found:?} spell the control label; use scgenept_data::condition (CTRL, \
                 single, is_control, …)",
                path.display()
            );
        }
    }
}

/// Features that give the CPU kernels a second, AVX-512 code path (another summation order).
const AVX512_FEATURES: [&str; 2] = ["x86-v4", "avx512"];

/// The features a manifest's dependency tables turn on, as `crate/feature`.
fn enabled_features(manifest: &toml::Table) -> Vec<String> {
    let tables = ["dependencies", "dev-dependencies"].map(|k| manifest.get(k));
    let workspace = manifest
        .get("workspace")
        .and_then(|w| w.get("dependencies"));
    let deps = tables
        .into_iter()
        .chain([workspace])
        .flatten()
        .filter_map(|t| t.as_table());
    let mut out = Vec::new();
    for (name, spec) in deps.flat_map(|t| t.iter()) {
        let features = spec.get("features").and_then(|f| f.as_array());
        for f in features.into_iter().flatten().filter_map(|f| f.as_str()) {
            out.push(format!("{name}/{f}"));
        }
    }
    let own = manifest.get("features").and_then(|f| f.as_table());
    for list in own
        .into_iter()
        .flat_map(|t| t.values())
        .filter_map(|v| v.as_array())
    {
        out.extend(list.iter().filter_map(|f| f.as_str()).map(str::to_string));
    }
    out
}

fn is_avx512(feature: &str) -> bool {
    let name = feature.rsplit('/').next().unwrap_or(feature);
    AVX512_FEATURES.contains(&name)
}

#[test]
fn tidy_no_avx512_on_the_cpu() {
    let read = |path: PathBuf| -> toml::Table {
        let text = std::fs::read_to_string(&path).unwrap();
        toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let crates = LAYERS
        .iter()
        .map(|k| root().join("crates").join(k).join("Cargo.toml"));
    for path in std::iter::once(root().join("Cargo.toml")).chain(crates) {
        let on: Vec<String> = enabled_features(&read(path.clone()));
        let bad: Vec<&String> = on.iter().filter(|f| is_avx512(f)).collect();
        assert!(
            bad.is_empty(),
            "{}: {bad:?} gives the CPU kernels an AVX-512 path, and CPU results then depend on the \
             machine; remove it (docs/features.md#reproducibility-on-the-cpu)",
            path.display()
        );
    }
    let vendored = read(root().join("vendor/macerator/Cargo.toml"));
    let defaults = &vendored["features"]["default"];
    assert!(
        !defaults
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f.as_str() == Some("avx512")),
        "vendor/macerator/Cargo.toml: `avx512` is a default feature again; see vendor/README.md"
    );
    let workspace = read(root().join("Cargo.toml"));
    assert_eq!(
        workspace["patch"]["crates-io"]["macerator"]["path"].as_str(),
        Some("vendor/macerator"),
        "Cargo.toml: [patch.crates-io] must take macerator from vendor/ (vendor/README.md)"
    );
}

#[test]
fn tidy_finds_what_it_looks_for() {
    // The checks themselves: a planted circle, a long function.
    let mods: BTreeMap<String, (PathBuf, String)> = [
        ("a", "use crate::b::X;"),
        ("b", "fn f() { crate::a::g() }"),
        ("c", "use crate::a;"),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_string(), (Path::new(n).to_path_buf(), t.to_string())))
    .collect();
    assert_eq!(circles(&edges(&mods)), vec![vec!["a", "b"]]);
    // Folders: `super::` paths count, and a path resolves to the deepest module it names.
    let mods: BTreeMap<String, (PathBuf, String)> = [
        ("d", "pub mod e; pub mod f; use crate::d::e::Y;"),
        ("d::e", "pub struct Y; fn g() { super::f::h() }"),
        ("d::f", "fn h() { super::Z }"),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_string(), (Path::new(n).to_path_buf(), t.to_string())))
    .collect();
    assert_eq!(circles(&edges(&mods)), vec![vec!["d", "d::e", "d::f"]]);
    let long = format!("fn long() {{\n{}}}\n", "    x();\n".repeat(120));
    assert_eq!(functions(&long), vec![("long".to_string(), 122)]);
    assert_eq!(without_tests("a\n#[cfg(test)]\nb.unwrap()"), "a");
    let code =
        r#"let c = '"'; f("ctrl"); g(format!("{a}+ctrl")); h("not a+ctrl label"); x("a\"b");"#;
    let lits = string_literals(code);
    assert_eq!(lits, ["ctrl", "{a}+ctrl", "not a+ctrl label", "a\\\"b"]);
    let flagged: Vec<&str> = lits.into_iter().filter(|l| spells_control(l)).collect();
    assert_eq!(flagged, ["ctrl", "{a}+ctrl"]);
    let manifest: toml::Table = toml::from_str(
        "[dependencies]\ngemm = { version = \"0.19\", features = [\"std\", \"x86-v4\"] }\n\
         [features]\nfast = [\"macerator/avx512\", \"bytemuck/avx512_simd\"]",
    )
    .unwrap();
    let on = enabled_features(&manifest);
    let flagged: Vec<&String> = on.iter().filter(|f| is_avx512(f)).collect();
    assert_eq!(flagged, ["gemm/x86-v4", "macerator/avx512"]);
}
