"""Network definitions (PyTorch). The runtime imports this only for the PyTorch backend; ONNX and TensorRT
deployments never need torch."""
from rtstyle.models.registry import FAMILIES, VARIANTS, ArbitraryStyleNet, create_model, get_variant

__all__ = ["FAMILIES", "VARIANTS", "ArbitraryStyleNet", "create_model", "get_variant"]
