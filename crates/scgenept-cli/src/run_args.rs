//! The command line that continues an interrupted `train` or `sweep`, as the user would type it
//! (the program as invoked, arguments quoted for a POSIX shell); `interrupt.rs` prints it.

use std::path::Path;

use scgenept_train::interrupt::shell_quote;
use scgenept_train::Device;

/// `PROGRAM SUBCOMMAND --config C [--set K=V]… --device D TAIL…`.
pub fn command_line(
    subcommand: &str,
    config: &Path,
    set: &[String],
    device: &Device,
    tail: &[String],
) -> String {
    let program = std::env::args().next().unwrap_or_else(|| "scgenept".into());
    let mut words = vec![
        shell_quote(&program),
        subcommand.into(),
        "--config".into(),
        shell_quote(&config.to_string_lossy()),
    ];
    for s in set {
        words.extend(["--set".into(), shell_quote(s)]);
    }
    words.extend(["--device".into(), shell_quote(&device.to_string())]);
    words.extend(tail.iter().map(|w| shell_quote(w)));
    words.join(" ")
}
