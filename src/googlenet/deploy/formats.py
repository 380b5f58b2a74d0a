"""The export formats by name, without torch: ``googlenet export --help`` lists them before anything heavy loads."""

FORMATS = ("onnx", "torchscript", "exported-program")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".torchscript.pt", "exported-program": ".pt2"}
