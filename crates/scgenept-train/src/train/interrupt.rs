//! Ctrl-C and SIGTERM. While a training loop runs ([`Graceful`]), the first signal only asks it
//! to stop at the next batch boundary: the epoch checkpoints on disk are whole (each is written
//! to a temporary and renamed), and the command then prints how to resume. Outside a training
//! loop, or at a second signal, the process exits at once (status 130) after removing the
//! temporary files its atomic writes had open, so no half-written file is left behind.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static GRACEFUL: AtomicUsize = AtomicUsize::new(0);
static RESUME_HINT: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// The command that continues this command's work: printed when an interrupt ends the process
/// at once, and carried by every [`Interrupted`] made afterwards.
pub fn set_resume_hint(command: String) {
    *RESUME_HINT.lock().unwrap_or_else(|p| p.into_inner()) = Some(command);
}

fn resume_hint() -> Option<String> {
    RESUME_HINT
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
}

/// Installs the handler (once per process; later calls do nothing).
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let set = ctrlc::set_handler(|| {
            if GRACEFUL.load(Ordering::SeqCst) > 0 && !REQUESTED.swap(true, Ordering::SeqCst) {
                eprintln!(
                    "\ninterrupted: stopping after the current step (interrupt again to quit now)"
                );
                return;
            }
            scgenept_data::tempfiles::remove_registered();
            match resume_hint() {
                Some(c) => eprintln!("\ninterrupted; to continue: {c}"),
                None => eprintln!("\ninterrupted"),
            }
            std::process::exit(130);
        });
        if let Err(e) = set {
            tracing::debug!("no interrupt handler: {e}");
        }
    });
}

/// Whether a stop was asked for while a graceful section runs.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// A section (a training loop) that stops by itself at a safe point when interrupted.
pub struct Graceful(());

impl Graceful {
    pub fn enter() -> Self {
        GRACEFUL.fetch_add(1, Ordering::SeqCst);
        Self(())
    }
}

impl Drop for Graceful {
    fn drop(&mut self) {
        GRACEFUL.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How a training run (or a sweep) stopped early: returned as an error; the command exits with
/// status 130 and prints it, with the resume hint set when the command started.
#[derive(Debug)]
pub struct Interrupted {
    /// `in epoch 2/5`.
    pub where_: String,
    /// What is on disk: `epoch 1's checkpoint is in runs/x/checkpoints/resume`.
    pub saved: String,
    /// The exact command that continues the work ([`set_resume_hint`]), if the command set one.
    pub resume: Option<String>,
}

impl Interrupted {
    pub fn new(where_: String, saved: String) -> Self {
        Self {
            where_,
            saved,
            resume: resume_hint(),
        }
    }
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "interrupted {}; {}", self.where_, self.saved)?;
        if let Some(c) = &self.resume {
            write!(f, "\nto continue: {c}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Interrupted {}

/// Quotes `arg` for a POSIX shell when it holds anything beyond plain path characters.
pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./=:+,@%".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn shell_quote_leaves_plain_words_and_quotes_the_rest() {
        assert_eq!(shell_quote("train.lr=1e-4"), "train.lr=1e-4");
        assert_eq!(shell_quote("my runs/a"), "'my runs/a'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
