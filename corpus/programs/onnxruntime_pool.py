"""ONNX Runtime's default intra-op thread pool (no session options set):
builds a 512x512 MatMul model with the onnx package, runs it 20 times on
the CPU provider, prints the result's checksum, and reports the pool as the
threads the session added plus the caller (ONNX Runtime sizes it by the
physical cores its cpuinfo library counts from the CPU files); the
library's own steward thread, which a tree's member may start meanwhile,
is not counted."""


import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from corpus_pools import pool, program_threads

N = 512
x_info = helper.make_tensor_value_info("X", TensorProto.FLOAT, [N, N])
y_info = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [N, N])
graph = helper.make_graph([helper.make_node("MatMul", ["X", "X"], ["Y"])], "g", [x_info], [y_info])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 8
onnx.checker.check_model(model)

before = program_threads()
session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
x = (np.arange(N * N, dtype=np.float32).reshape(N, N) % 7) / 7
for _ in range(20):
    y = session.run(None, {"X": x})[0]
pool("onnxruntime:intra_op", program_threads() - before + 1)
print("shape=%dx%d sum=%.1f" % (y.shape[0], y.shape[1], float(y.astype(np.float64).sum())))
