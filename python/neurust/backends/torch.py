"""torch: the kernels on tensors, on the CPU ("torch") or a CUDA GPU ("torch-cuda")."""

from __future__ import annotations

import numpy as np
import torch

from neurust.backends._base import BaseBackend
from neurust.backends._mlp import ArrayMlp


class TorchBackend(ArrayMlp, BaseBackend):
    """torch tensors on the CPU."""

    name = "torch"
    color = "#ff7f0e"

    def _from_array(self, a: np.ndarray) -> torch.Tensor:
        # torch.tensor copies, so the tensor never shares (possibly read-only) numpy memory.
        return torch.tensor(np.asarray(a), device=self.device)

    def to_numpy(self, x: torch.Tensor) -> np.ndarray:
        return x.detach().cpu().numpy()

    def weighted_sum(self, inputs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return inputs @ weights

    def relu(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)

    def relu_into(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        return torch.clamp_min(x, 0, out=out)

    def copy_into(self, source: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        return out.copy_(source)

    def relu_grad(self, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        return torch.where(x > 0, grad, 0.0)

    def sigmoid(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x)

    def sigmoid_grad(self, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(x)
        return grad * s * (1.0 - s)

    def step(self, x: torch.Tensor) -> torch.Tensor:
        # torch.heaviside maps NaN to 0; numpy's (and ours) keeps NaN.
        return torch.where(torch.isnan(x), x, (x > 0).to(x.dtype))

    def linear(
        self, x: torch.Tensor, weights: torch.Tensor, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        outputs = x @ weights
        return outputs if bias is None else outputs + bias


class TorchCudaBackend(TorchBackend):
    """torch tensors on the first CUDA GPU; kernels return before the GPU finishes."""

    name = "torch-cuda"
    color = "#d62728"
    device = "cuda"
    asynchronous = True

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if torch.version.cuda is None:
            return f"this torch build ({torch.__version__}) has no CUDA support"
        if not torch.cuda.is_available():
            return "torch.cuda.is_available() is False: no CUDA GPU or driver was found"
        return None

    def synchronize(self, *results: torch.Tensor) -> None:
        """Wait for every kernel queued on the GPU (the results included)."""
        torch.cuda.synchronize()
