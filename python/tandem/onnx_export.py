"""A policy as an ONNX graph, built from the language-neutral weights (GetConfig's model
description + the Weights tensors, as tandem/model.py's NumpyPolicy holds them). Needs
Debian's python3-onnx (1.12); the client itself does not.

    observation [batch, *obs_shape] float32 -> Flatten -> Clip(+-observation_clip, when > 0)
      -> per policy-trunk layer: Gemm(x, W, b, transB=1) -> activation
      -> policy head Gemm -> logits [batch, n]
    action_mask [batch, n] float32 (1 = allowed) -> Where(mask > 0, logits, masked_logit)
      -> masked_logits [batch, n]; ArgMax(axis 1, the first maximum) -> action [batch] int64
    value [batch, 1]: the value head on the policy trunk (vf_share_layers) or on its own trunk

The same function as the C++ model's greedy action (core/model_description.h states it):
tests/python/test_onnx_export.py evaluates the graph and compares with the server on many
boards. Supported: a Box observation and a Discrete action space (Connect Four's).
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
_ACTIVATIONS = {"tanh": "Tanh", "relu": "Relu", "elu": "Elu", "linear": None}


class ExportError(ValueError):
    pass


def export_policy(model, policy_id="policy"):
    """An onnx.ModelProto of `model` (a tandem.NumpyPolicy), checked by onnx.checker."""
    d = model.description
    if d["observation_space"]["type"] != "box" or d["action_space"]["type"] != "discrete":
        raise ExportError(f"ONNX export supports a Box observation and a Discrete action space, "
                          f"not {model.observation_space.describe()} -> {model.action_space.describe()}")
    if d["activation"] not in _ACTIVATIONS:
        raise ExportError(f"activation {d['activation']!r} has no ONNX export here")
    obs_shape = [int(x) for x in d["observation_space"]["shape"]]
    n = int(d["action_space"]["n"])
    nodes, inits = [], []

    def const(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def trunk(x, layers):
        for name in layers:
            w = const(f"{name}.weight", model.tensors[f"{name}.weight"])
            b = const(f"{name}.bias", model.tensors[f"{name}.bias"])
            nodes.append(helper.make_node("Gemm", [x, w, b], [f"{name}.out"], transB=1))
            x = f"{name}.out"
            op = _ACTIVATIONS[d["activation"]]
            if op:
                nodes.append(helper.make_node(op, [x], [f"{name}.act"], **({"alpha": 1.0} if op == "Elu" else {})))
                x = f"{name}.act"
        return x

    def linear(x, name, out):
        w = const(f"{name}.weight", model.tensors[f"{name}.weight"])
        b = const(f"{name}.bias", model.tensors[f"{name}.bias"])
        nodes.append(helper.make_node("Gemm", [x, w, b], [out], transB=1))
        return out

    nodes.append(helper.make_node("Flatten", ["observation"], ["x_flat"], axis=1))
    x = "x_flat"
    clip = float(d["observation_clip"])
    if clip > 0:
        nodes.append(helper.make_node("Clip", [x, const("clip_low", np.float32(-clip)), const("clip_high", np.float32(clip))],
                                      ["x_clipped"]))
        x = "x_clipped"
    h = trunk(x, d["policy_trunk"])
    linear(h, d["policy_head"], "logits")
    vh = h if d["vf_share_layers"] else trunk(x, d["value_trunk"])
    linear(vh, d["value_head"], "value")
    nodes.append(helper.make_node("Greater", ["action_mask", const("zero", np.float32(0))], ["allowed"]))
    nodes.append(helper.make_node("Where", ["allowed", "logits", const("masked_logit", np.float32(d["masked_logit"]))],
                                  ["masked_logits"]))
    nodes.append(helper.make_node("ArgMax", ["masked_logits"], ["action"], axis=1, keepdims=0, select_last_index=0))

    graph = helper.make_graph(
        nodes, f"tandem_{policy_id}",
        [helper.make_tensor_value_info("observation", TensorProto.FLOAT, ["batch"] + obs_shape),
         helper.make_tensor_value_info("action_mask", TensorProto.FLOAT, ["batch", n])],
        [helper.make_tensor_value_info("masked_logits", TensorProto.FLOAT, ["batch", n]),
         helper.make_tensor_value_info("action", TensorProto.INT64, ["batch"]),
         helper.make_tensor_value_info("value", TensorProto.FLOAT, ["batch", 1])],
        inits)
    m = helper.make_model(graph, producer_name="tandem-export", opset_imports=[helper.make_opsetid("", OPSET)])
    m.doc_string = (f"tandem policy {policy_id!r}, weights version {model.version}: "
                    "masked_logits and the greedy action (first argmax) for observation and action_mask")
    onnx.checker.check_model(m, full_check=True)
    return m
