//! The donor registry: the donor model and synthetic donor pools.
//!
//! Storage, import/export and status history are the next steps of this crate (issue 3);
//! what exists today is the vocabulary of a donor record and `synth`, the generator of
//! realistic donor pools used for scale tests.

pub mod csv_format;
pub mod model;
pub mod synth;

pub use model::{Abo, Cmv, DonorType, Rh, Sex};
pub use synth::{PopulationMix, SynthConfig, SynthError, Synthesizer};
