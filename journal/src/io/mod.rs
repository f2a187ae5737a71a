//! Everything that touches file descriptors, the kernel and raw memory. The only module
//! of the crate allowed `unsafe` (STYLE rule 9); each block carries a `// SAFETY:` line.
#![allow(unsafe_code)]

pub(crate) mod aligned;
pub(crate) mod engine;
pub(crate) mod file;
