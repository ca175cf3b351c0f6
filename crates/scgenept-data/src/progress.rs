//! Progress bars drawn only when stderr is a terminal; hidden otherwise (log lines report
//! progress there instead).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps in indicatif's `template`, or a hidden one when stderr is not a terminal.
pub fn terminal_bar(len: u64, template: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
    bar
}
