"""Export side of rtstyle (installed as `rtstyle_export`): ONNX and TensorRT, each checked after export."""
