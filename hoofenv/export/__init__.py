"""After training: the model as ONNX and its light runtime env (onnx.py), and what predictions turn into for the
people who use them: hoof angles as CSV/JSON, a CVAT pre-annotation file and a review list (outputs.py)."""
