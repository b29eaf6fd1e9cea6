"""TensorBoard event files (issue 18): a real tandem-server trains a few iterations; its
events.out.tfevents.* file is read back with a record reader written here (length, masked
CRC32C of the length, data, masked CRC32C of the data) and python3-protobuf (the Event and
Summary messages built at run time: there is no TensorFlow here), and every value is compared
with result.json."""
import json
import math
import struct

import tandem

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory


def _crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_records(path):
    data = open(path, "rb").read()
    out, i = [], 0
    while i < len(data):
        assert i + 12 <= len(data), "truncated record header"
        header = data[i:i + 8]
        (length,) = struct.unpack("<Q", header)
        (len_crc,) = struct.unpack("<I", data[i + 8:i + 12])
        assert len_crc == masked(header), "bad length CRC"
        payload = data[i + 12:i + 12 + length]
        assert len(payload) == length, "truncated record"
        (data_crc,) = struct.unpack("<I", data[i + 12 + length:i + 16 + length])
        assert data_crc == masked(payload), "bad data CRC"
        out.append(payload)
        i += 16 + length
    return out


def event_class():
    """tensorflow.Event (the fields TensorBoard's scalars use), built at run time."""
    f = descriptor_pb2.FileDescriptorProto(name="tb_event_test.proto", package="tbtest", syntax="proto3")
    T = descriptor_pb2.FieldDescriptorProto
    value = f.message_type.add(name="Value")
    value.field.add(name="tag", number=1, type=T.TYPE_STRING, label=T.LABEL_OPTIONAL)
    value.field.add(name="simple_value", number=2, type=T.TYPE_FLOAT, label=T.LABEL_OPTIONAL)
    summary = f.message_type.add(name="Summary")
    summary.field.add(name="value", number=1, type=T.TYPE_MESSAGE, type_name=".tbtest.Value", label=T.LABEL_REPEATED)
    event = f.message_type.add(name="Event")
    event.field.add(name="wall_time", number=1, type=T.TYPE_DOUBLE, label=T.LABEL_OPTIONAL)
    event.field.add(name="step", number=2, type=T.TYPE_INT64, label=T.LABEL_OPTIONAL)
    event.field.add(name="file_version", number=3, type=T.TYPE_STRING, label=T.LABEL_OPTIONAL)
    event.field.add(name="summary", number=5, type=T.TYPE_MESSAGE, type_name=".tbtest.Summary", label=T.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    desc = pool.FindMessageTypeByName("tbtest.Event")
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


def numeric_leaves(row, prefix=""):
    out = {}
    for k, v in row.items():
        key = f"{prefix}/{k}" if prefix else k
        if isinstance(v, dict):
            out.update(numeric_leaves(v, key))
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out[key] = v
    return out


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def test_event_file_holds_every_numeric_result_value(start_server):
    s = start_server()
    with tandem.PolicyClient(s.address) as c:
        n = 0
        while (s.metric("tandem_training_iteration") or 0) < 3:
            eid = c.start_episode()
            for t in range(8):
                c.get_action(eid, [0.1 * t, -0.2])
                c.log_returns(eid, 1.0 if t % 2 else -0.5)
            c.end_episode(eid, [0.0, 0.0], custom_metrics={"score": float(n)})
            n += 1
            assert n < 2000
    assert s.stop() == 0
    results = s.dir / "results"
    files = sorted(results.glob("events.out.tfevents.*"))
    assert len(files) == 1
    rows = [json.loads(line) for line in (results / "result.json").read_text().splitlines() if line.strip()]
    assert len(rows) >= 3
    Event = event_class()
    records = read_records(files[0])
    assert len(records) == 1 + len(rows)
    first = Event.FromString(records[0])
    assert first.file_version == "brain.Event:2" and first.wall_time > 1.6e9
    last_wall = first.wall_time
    for rec, row in zip(records[1:], rows):
        e = Event.FromString(rec)
        assert e.step == row["timesteps_total"]
        assert e.wall_time >= last_wall
        last_wall = e.wall_time
        values = {v.tag: v.simple_value for v in e.summary.value}
        expected = {f"ray/tune/{k}": v for k, v in numeric_leaves(row).items()}
        assert set(values) == set(expected)
        for tag, v in expected.items():
            assert values[tag] == f32(v), tag
    tags = set(values)
    assert {"ray/tune/episode_reward_mean", "ray/tune/training_iteration", "ray/tune/timesteps_total",
            "ray/tune/policy_reward_mean/p", "ray/tune/custom_metrics/score_mean"} <= tags
    assert any(t.startswith("ray/tune/info/learner/p/") for t in tags)
