"""From a trained model to a fast one: BN folding and 1x1 fusion (for inference and for training), the
one ONNX exporter, TorchScript and ExportedProgram files, int8 quantization, ONNX Runtime sessions.
"""
