"""ONNX export, the predictor, the static student's export and the quality of served variants."""
