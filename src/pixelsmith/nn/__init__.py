"""The few layers shared by architectures: spectral norm, self-attention, conditional BN."""

from pixelsmith.nn.layers import ConditionalBatchNorm2d, SelfAttention, sn

__all__ = ["ConditionalBatchNorm2d", "SelfAttention", "sn"]
