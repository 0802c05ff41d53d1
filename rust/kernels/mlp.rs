//! The two-layer network: forward pass, backward pass and the fused training loop.
