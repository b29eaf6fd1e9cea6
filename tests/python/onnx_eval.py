"""A small numpy evaluator of the ONNX operators tandem-export writes (onnxruntime is not
in Debian 12): Flatten, Clip, Gemm, Tanh, Relu, Elu, Greater, Where, ArgMax. Any other
operator or attribute raises, so a graph using one fails its test instead of passing
unchecked."""
import numpy as np
from onnx import numpy_helper


def _attrs(node):
    out = {}
    for a in node.attribute:
        out[a.name] = a.i if a.type == a.INT else a.f if a.type == a.FLOAT else None
    return out


def run(model, feeds):
    env = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    env.update(feeds)
    for node in model.graph.node:
        x = [env[i] for i in node.input]
        at = _attrs(node)
        op = node.op_type
        if op == "Flatten":
            assert at.get("axis", 1) == 1
            y = x[0].reshape(x[0].shape[0], -1)
        elif op == "Clip":
            y = np.clip(x[0], x[1], x[2])
        elif op == "Gemm":
            assert set(at) <= {"transB"} and at.get("transB", 0) == 1
            y = (x[0] @ x[1].T + x[2]).astype(np.float32)
        elif op == "Tanh":
            y = np.tanh(x[0])
        elif op == "Relu":
            y = np.maximum(x[0], 0)
        elif op == "Elu":
            assert at.get("alpha", 1.0) == 1.0
            y = np.where(x[0] > 0, x[0], np.expm1(np.minimum(x[0], 0))).astype(np.float32)
        elif op == "Greater":
            y = x[0] > x[1]
        elif op == "Where":
            y = np.where(x[0], x[1], x[2]).astype(np.float32)
        elif op == "ArgMax":
            assert at == {"axis": 1, "keepdims": 0, "select_last_index": 0}, at
            y = np.argmax(x[0], axis=1).astype(np.int64)  # numpy: the first maximum, as ONNX's default
        else:
            raise NotImplementedError(f"operator {op}")
        assert len(node.output) == 1
        env[node.output[0]] = y
    return {o.name: env[o.name] for o in model.graph.output}
