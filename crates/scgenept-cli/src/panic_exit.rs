//! A panic in any thread ends the process with one error line and exit status 1.
//!
//! burn's GPU backends run each device on a server thread of their own (`DSD-0-0` for CUDA).
//! When that thread panics — running out of GPU memory is the usual cause — the thread that asked
//! for the work is not told: on an H100, `bench step --size full --batch 32` printed a step time
//! measured on failed kernels and exited 0, and a training run would go on the same way. Ending
//! the process at the first panic, whichever thread it is in, makes that a visible failure.
//!
//! One panic is not a failure: `println!` panics when the program reading stdout has gone
//! (`scgenept … | head -1`). The process then ends quietly with status 0, as ripgrep does, instead
//! of reporting a bug.

use std::panic::PanicHookInfo;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the first panic that ends the process; later ones (other threads failing in its wake)
/// stay quiet.
static ENDING: AtomicBool = AtomicBool::new(false);

/// Installs the hook. Panics during a device probe pass silently: the probe turns them into a
/// one-line error.
pub fn install() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if scgenept_train::device::probing() {
            // An expected failure (no GPU, no driver): the probe reports it in one line, even
            // with RUST_BACKTRACE set; `-v` shows the panic's own words.
            tracing::debug!("device probe panicked: {}", payload(info));
            return;
        }
        if stdout_closed(&payload(info)) {
            exit_now(0);
        }
        if ENDING.swap(true, Ordering::SeqCst) {
            // Another thread is already reporting and ending the process.
            loop {
                std::thread::park();
            }
        }
        let thread = std::thread::current();
        let place = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "an unknown place".into());
        if details_requested() {
            default_hook(info); // the details first, so the summary is the last line
        }
        eprintln!(
            "error: {}",
            describe(&payload(info), thread.name().unwrap_or("unnamed"), &place)
        );
        exit_now(1);
    }));
}

/// Ends the process at once, flushing stdout and stderr first. Not `std::process::exit`: libc's
/// `exit` runs the calling thread's thread-local destructors, and a GPU server thread panics
/// inside one of its own thread-locals (cubecl's device channel, `LocalKey::with_borrow`), so
/// destroying it panicked again and aborted the process (signal 6, status 134) right after the
/// error line (wgpu out of memory on lavapipe).
fn exit_now(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    #[cfg(unix)]
    {
        // SAFETY: `_exit` takes no pointers and does not return.
        unsafe { libc::_exit(code) }
    }
    #[cfg(not(unix))]
    std::process::exit(code)
}

/// `RUST_BACKTRACE` set (and not `0`): also print the standard panic report.
fn details_requested() -> bool {
    std::env::var_os("RUST_BACKTRACE").is_some_and(|v| !v.is_empty() && v != "0")
}

fn payload(info: &PanicHookInfo<'_>) -> String {
    let p = info.payload();
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// `print!`'s panic when stdout is a pipe whose reader has exited (EPIPE).
fn stdout_closed(message: &str) -> bool {
    message.starts_with("failed printing to stdout") && message.contains("Broken pipe")
}

/// The one line for a panic `message` raised in `thread` at `place`.
fn describe(message: &str, thread: &str, place: &str) -> String {
    let message = message.lines().next().unwrap_or("").trim();
    if let Some(bytes) = failed_gpu_allocation(message) {
        let size = match bytes {
            Some(b) => format!(" (a {:.1} GiB buffer)", b as f64 / (1u64 << 30) as f64),
            None => String::new(),
        };
        return format!(
            "the GPU ran out of memory{size}: lower train.micro_batch_size or train.max_seq_len \
             (predict and screen: --batch-size; bench step: --batch) and run again [{message}]"
        );
    }
    if message.starts_with(scgenept_model::attention::fused_plan::REFUSED) {
        // A forced kernel choice the device cannot run: the message names the fix.
        return message.to_string();
    }
    if message.contains(scgenept_data::cells::disk::READ_FAILED) {
        // The disk, not the program: the message names the cache and the fix.
        return message.to_string();
    }
    format!(
        "internal failure in thread '{thread}' at {place}: {message} — this is a bug; please \
         report it with the command line (RUST_BACKTRACE=1 prints where it happened)"
    )
}

/// `Some(size)` when `message` is a backend's failed device allocation (size in bytes when the
/// message gives it), `None` for any other panic.
fn failed_gpu_allocation(message: &str) -> Option<Option<u64>> {
    const ALLOC: &str = "can't allocate buffer of size";
    if let Some(i) = message.find(ALLOC) {
        let digits: String = message[i + ALLOC.len()..]
            .trim_start_matches([':', ' '])
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        return Some(digits.parse().ok());
    }
    let lower = message.to_ascii_lowercase();
    (lower.contains("out of memory") || lower.contains("out_of_memory")).then_some(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_out_of_memory_says_what_to_lower() {
        // The message cubecl-cuda 0.10 panicked with on an H100 at `bench step --batch 32`.
        let m = "called `Result::unwrap()` on an `Err` value: can't allocate buffer of size: 5313593344";
        let line = describe(m, "DSD-0-0", "server.rs:124");
        assert!(
            line.starts_with(
                "the GPU ran out of memory (a 4.9 GiB buffer): lower train.micro_batch_size"
            ),
            "{line}"
        );
        assert!(line.contains(m), "{line}");
        let line = describe("CUDA_ERROR_OUT_OF_MEMORY", "DSD-0-0", "x.rs:1");
        assert!(
            line.starts_with("the GPU ran out of memory: lower"),
            "{line}"
        );
    }

    #[test]
    fn a_failed_read_of_the_cells_cache_is_not_a_bug() {
        let m = format!(
            "/d/x.h5ad.scgenept-cells: {} (Input/output error); delete the folder and run again",
            scgenept_data::cells::disk::READ_FAILED
        );
        assert_eq!(describe(&m, "main", "disk.rs:1"), m);
    }

    #[test]
    fn a_closed_stdout_is_not_a_bug() {
        // What std's `println!` panicked with under `scgenept knowledge build … | head -1`.
        assert!(stdout_closed(
            "failed printing to stdout: Broken pipe (os error 32)"
        ));
        assert!(!stdout_closed(
            "failed printing to stdout: No space left on device (os error 28)"
        ));
        assert!(!stdout_closed("index out of bounds"));
    }

    #[test]
    fn other_panics_name_thread_and_place_on_one_line() {
        let line = describe(
            "index out of bounds\nsecond line",
            "loader",
            "src/batch.rs:42",
        );
        assert_eq!(
            line,
            "internal failure in thread 'loader' at src/batch.rs:42: index out of bounds — this \
             is a bug; please report it with the command line (RUST_BACKTRACE=1 prints where it \
             happened)"
        );
    }
}
