"""One exact rewrite of the SSCD ONNX graphs' input normalisation, for speed.

The models take uint8 NHWC pixels and normalise them first::

    Cast(image) -> Sub(mean[3]) -> Div(std[3]) -> Transpose(0, 3, 1, 2) -> Conv ...

ONNX Runtime broadcasts a 3-vector over the innermost axis in spans of 3 elements, so on
one thread Sub and Div took about a quarter of the distilled model's time (kernel profile,
32 x 224 x 224 batches: Sub + Div 36%, the 60 convolutions 60%). Transposing first makes
the same per-element arithmetic broadcast over 224 x 224 planes::

    Transpose(image) -> Cast -> Sub(mean[3, 1, 1]) -> Div(std[3, 1, 1]) -> Conv ...

Every element goes through the same Cast, Sub and Div with the same constants, so the
outputs are bit-identical (checked by ``tests/test_video_stages.py``); embedding the film's
1183 frames took 5.8 instead of 7.6 CPU seconds. A graph that does not start with exactly
that pattern is left as it is.

ONNX's own Python package is not a dependency: the few message fields read here are
declared with protobuf (which onnxruntime requires), and protobuf keeps every field it was
not told about when it writes the model back.
"""

from __future__ import annotations

_MESSAGES = None


def _messages():
    """The ModelProto class of a minimal ONNX schema (field numbers from onnx.proto)."""
    global _MESSAGES
    if _MESSAGES is None:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

        F = descriptor_pb2.FieldDescriptorProto
        proto = descriptor_pb2.FileDescriptorProto(name="reeltrace_onnx_min.proto", package="reeltrace_onnx_min")
        proto.syntax = "proto2"
        repeated, optional = F.LABEL_REPEATED, F.LABEL_OPTIONAL
        schema = {
            "TensorProto": [("dims", 1, F.TYPE_INT64, repeated, None), ("data_type", 2, F.TYPE_INT32, optional, None),
                            ("name", 8, F.TYPE_STRING, optional, None), ("raw_data", 9, F.TYPE_BYTES, optional, None)],
            "AttributeProto": [("name", 1, F.TYPE_STRING, optional, None), ("ints", 8, F.TYPE_INT64, repeated, None)],
            "NodeProto": [("input", 1, F.TYPE_STRING, repeated, None), ("output", 2, F.TYPE_STRING, repeated, None),
                          ("op_type", 4, F.TYPE_STRING, optional, None),
                          ("attribute", 5, F.TYPE_MESSAGE, repeated, "AttributeProto")],
            "GraphProto": [("node", 1, F.TYPE_MESSAGE, repeated, "NodeProto"),
                           ("initializer", 5, F.TYPE_MESSAGE, repeated, "TensorProto")],
            "ModelProto": [("graph", 7, F.TYPE_MESSAGE, optional, "GraphProto")],
        }  # fmt: skip
        for name, fields in schema.items():
            message = proto.message_type.add(name=name)
            for field_name, number, kind, label, type_name in fields:
                field = message.field.add(name=field_name, number=number, type=kind, label=label)
                if type_name:
                    field.type_name = ".reeltrace_onnx_min." + type_name
        pool = descriptor_pool.DescriptorPool()
        pool.Add(proto)
        _MESSAGES = message_factory.GetMessageClass(pool.FindMessageTypeByName("reeltrace_onnx_min.ModelProto"))
    return _MESSAGES


def transpose_first(model: bytes) -> bytes:
    """``model`` with its input normalisation reordered (module docstring), or unchanged."""
    try:
        proto = _messages()()
        proto.ParseFromString(model)
    except Exception:  # no protobuf, or not a model this schema reads: run it as it is
        return model
    graph = proto.graph
    if len(graph.node) < 4:
        return model
    cast, sub, div, transpose = graph.node[:4]
    constants = {t.name: t for t in graph.initializer}
    perm = [list(a.ints) for a in transpose.attribute if a.name == "perm"]
    if not (
        [n.op_type for n in (cast, sub, div, transpose)] == ["Cast", "Sub", "Div", "Transpose"]
        and len(cast.input) == 1
        and list(sub.input[:1]) == list(cast.output) and list(div.input[:1]) == list(sub.output)
        and list(transpose.input) == list(div.output) and perm == [[0, 3, 1, 2]]
        and len(sub.input) == 2 and len(div.input) == 2
        and all(name in constants and list(constants[name].dims) == [3] for name in (sub.input[1], div.input[1]))
        and sum(name in (sub.input[1], div.input[1]) for n in graph.node for name in n.input) == 2
        and not any(name in (cast.output[0], sub.output[0], div.output[0]) for n in graph.node[4:] for name in n.input)
    ):  # fmt: skip
        return model
    image, normalised = cast.input[0], transpose.output[0]
    planar = normalised + "_uint8_nchw"
    transpose.input[:] = [image]
    transpose.output[:] = [planar]
    cast.input[:] = [planar]
    div.output[:] = [normalised]
    for name in (sub.input[1], div.input[1]):
        constants[name].dims[:] = [3, 1, 1]
    order = [transpose, cast, sub, div, *graph.node[4:]]
    copies = [type(node)() for node in order]
    for copy, node in zip(copies, order):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)
    return proto.SerializeToString()
