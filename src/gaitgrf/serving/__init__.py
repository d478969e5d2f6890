"""Using a trained model: per-step prediction of recordings and ONNX export."""
