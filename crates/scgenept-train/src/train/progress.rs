//! Progress bars: the data crate's, which every crate shares.

pub use scgenept_data::progress::terminal_bar;
