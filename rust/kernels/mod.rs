//! The pure-Rust kernels: no PyO3 types, generic over `f32` and `f64`.

pub mod activation;
pub mod alloc;
pub mod blas;
pub mod dot;
pub mod element;
pub mod float;
pub mod gemm;
pub mod linear;
pub mod mlp;
pub mod network;
pub mod parallel;
pub mod shuffle;
pub mod simd;

pub use element::Element;
pub use float::Float;
