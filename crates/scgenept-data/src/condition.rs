//! Condition names as GEARS writes them, and the control label in one place: `ctrl` (control
//! cells), `A+ctrl` (gene A alone; `ctrl+A` also occurs), `A+B` (a pair). Every crate names the
//! control through [`CTRL`] and these helpers (`tests/tidy.rs` refuses a `"ctrl"` literal
//! elsewhere), so the label is spelled once.

/// The control condition's label (GEARS' `ctrl`; other labels are mapped to it on load).
pub const CTRL: &str = "ctrl";

/// Whether `condition` is the control.
pub fn is_control(condition: &str) -> bool {
    condition == CTRL
}

/// GEARS' test for a single: the condition *contains* `ctrl` (a substring test) and is not `ctrl`.
pub fn is_single(condition: &str) -> bool {
    condition.contains(CTRL) && condition != CTRL
}

/// GEARS' test for a pair: the condition does not contain `ctrl`.
pub fn is_pair(condition: &str) -> bool {
    !condition.contains(CTRL)
}

/// The condition of gene `gene` alone: `A+ctrl`.
pub fn single(gene: &str) -> String {
    format!("{gene}+{CTRL}")
}

/// The condition of gene `gene` alone, written control first: `ctrl+A`.
pub fn single_ctrl_first(gene: &str) -> String {
    format!("{CTRL}+{gene}")
}

/// The gene of a single written `A+ctrl` (as GEARS' normalised condition lists write them);
/// `None` for `ctrl+A`, pairs and the control.
pub fn gene_before_ctrl(condition: &str) -> Option<&str> {
    condition.strip_suffix(CTRL)?.strip_suffix('+')
}

/// The gene of a single written either way (`A+ctrl`, `ctrl+A`); `None` otherwise.
pub fn single_gene(condition: &str) -> Option<&str> {
    gene_before_ctrl(condition).or_else(|| condition.strip_prefix(CTRL)?.strip_prefix('+'))
}

/// The perturbed genes of a GEARS condition (none for `ctrl`).
pub fn condition_genes(condition: &str) -> Vec<&str> {
    condition.split('+').filter(|g| *g != CTRL).collect()
}

/// The name of the `i`-th control cell in files we write (`ctrl_0`, `ctrl_1`, …).
pub fn control_cell_name(i: usize) -> String {
    format!("{CTRL}_{i}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gears_kinds_of_condition() {
        assert!(is_control("ctrl") && !is_control("A+ctrl"));
        assert!(is_single("A+ctrl") && is_single("ctrl+A") && !is_single("ctrl"));
        assert!(is_pair("A+B") && !is_pair("A+ctrl"));
        assert_eq!(single("KLF1"), "KLF1+ctrl");
        assert_eq!(condition_genes("ctrl+A"), ["A"]);
        assert_eq!(condition_genes("A+B"), ["A", "B"]);
        assert!(condition_genes("ctrl").is_empty());
        assert_eq!(control_cell_name(3), "ctrl_3");
        assert_eq!(single_ctrl_first("A"), "ctrl+A");
        assert_eq!(gene_before_ctrl("A+ctrl"), Some("A"));
        assert_eq!(gene_before_ctrl("ctrl+A"), None);
        assert_eq!(single_gene("ctrl+A"), Some("A"));
        assert_eq!(single_gene("A+B"), None);
        assert_eq!(single_gene("ctrl"), None);
    }
}
