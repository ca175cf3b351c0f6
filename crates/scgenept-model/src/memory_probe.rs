//! Allocator read-outs from inside a training step, forward and backward (`scgenept bench step`,
//! docs/gpu.md, "Memory").
//!
//! cubecl reports how many bytes its allocator has in use, but keeps no high-water mark, and a
//! step's peak falls inside backward, where no caller can look. While a probe is installed
//! ([`install`]), the network calls [`sample`] at its op boundaries: after each input term, each
//! sub-layer and the decoder in forward; in backward through an identity op ([`mark`]) at the
//! same points, and once per query tile inside the attention's forward and backward. The probe
//! (the benchmark's closure) synchronises the device and records the allocator's read-out. Without
//! a probe, none of this runs and [`mark`] returns its input.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorPrimitive};
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{unary, Backward, Ops};
use burn_autodiff::Autodiff;

use crate::autodiff_inner::{on_autodiff, AutodiffOp};

type Probe = Arc<dyn Fn() + Send + Sync>;

static ACTIVE: AtomicBool = AtomicBool::new(false);
static PROBE: Mutex<Option<Probe>> = Mutex::new(None);

/// Removes the probe when dropped.
pub struct Installed(());

impl Drop for Installed {
    fn drop(&mut self) {
        ACTIVE.store(false, Ordering::SeqCst);
        *PROBE.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Calls `probe` at every probe point until the returned guard is dropped.
pub fn install(probe: impl Fn() + Send + Sync + 'static) -> Installed {
    *PROBE.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(probe));
    ACTIVE.store(true, Ordering::SeqCst);
    Installed(())
}

/// Whether a probe is installed.
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// Runs the probe, if one is installed.
pub fn sample() {
    if !active() {
        return;
    }
    let probe = PROBE.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(p) = probe {
        p();
    }
}

/// Samples now and, under autodiff, again when backward reaches this point.
pub fn mark<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    if !active() {
        return x;
    }
    sample();
    let prim = x.into_primitive().tensor();
    let out = match on_autodiff::<B, _>(prim, Identity) {
        Ok(t) => t,
        Err((t, _)) => t,
    };
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

#[derive(Debug)]
struct Identity;

impl<I: Backend> Backward<I, 1> for Identity {
    type State = ();

    fn backward(self, ops: Ops<(), 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        sample();
        unary::<I, _>(ops.parents, ops.node, grads, |g| g);
    }
}

impl AutodiffOp for Identity {
    fn apply<I: Backend>(
        self,
        t: burn::tensor::ops::FloatTensor<Autodiff<I>>,
    ) -> burn::tensor::ops::FloatTensor<Autodiff<I>> {
        Identity
            .prepare::<NoCheckpointing>([t.node.clone()])
            .compute_bound()
            .stateless(t.primitive)
    }
}
