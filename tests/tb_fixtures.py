"""TensorBoard event files for tests, written by the real writers.

- PyTorch's `torch.utils.tensorboard.SummaryWriter` for `simple_value` scalars (what PyTorch, Lightning, HF write).
- TF2-style tensor summaries: tensorflow is not installed here, so these are written with tensorboard's own protos
  and its `EventFileWriter` (the writer `tensorboard.summary.writer` ships), with the metadata TF2's
  `tf.summary.scalar` attaches (plugin `scalars`, dtype float, shape []). The bytes follow the same TFRecord framing.
- Damaged copies (truncated, flipped byte, garbage) are made from real files by the helpers below.
"""
from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np


def _torch_writer(log_dir: Path, suffix: str = ""):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(log_dir), filename_suffix=suffix, max_queue=10_000, flush_secs=3600)


def event_files(directory: Path) -> list[Path]:
    return sorted(p for p in Path(directory).rglob("*") if "tfevents" in p.name)


def write_torch_scalars(log_dir: Path, points: int = 10_000) -> Path:
    """A PyTorch run: a long train loss with NaN/inf in it, lr, a sparse eval loss, and `add_scalars` sub-runs."""
    writer = _torch_writer(log_dir)
    for step in range(points):
        loss = 2.0 * math.exp(-step / 3000) + 0.01 * math.sin(step)
        if step == 5000:
            loss = float("nan")
        elif step == 5001:
            loss = float("inf")
        elif step == 5002:
            loss = float("-inf")
        writer.add_scalar("train/loss", loss, step)
        writer.add_scalar("lr", 1e-3 * (0.5 ** (step // 2500)), step)
        if step % 500 == 499:
            writer.add_scalar("val/loss", 1.5 * math.exp(-step / 4000) + 0.2, step)
    for step in range(0, 100, 10):
        writer.add_scalars("acc", {"train": step / 100, "val": step / 120}, step)
    writer.add_text("note", "text is not a scalar", 0)
    writer.add_histogram("weights", np.arange(10.0), 0)
    writer.close()
    return log_dir


def write_torch_restart(log_dir: Path) -> tuple[Path, Path]:
    """Two SummaryWriters on one folder: the second resumes at step 60 after the first reached step 99."""
    first = _torch_writer(log_dir, ".a")
    for step in range(100):
        first.add_scalar("loss", 1.0 / (step + 1), step)
        first.add_scalar("lr", 0.1, step)
    first.close()
    second = _torch_writer(log_dir, ".b")
    for step in range(60, 150):
        second.add_scalar("loss", 10.0 + step, step)  # values that no first-session point has
    second.close()
    files = event_files(log_dir)
    assert len(files) == 2, files
    return files[0], files[1]


def write_torch_hparams_only(log_dir: Path) -> Path:
    """What `add_hparams` leaves in a sub-folder of its own when the run logs no metric there: hparams, no scalars."""
    from torch.utils.tensorboard.summary import hparams

    writer = _torch_writer(log_dir)
    exp, ssi, sei = hparams({"lr": 0.01, "optimizer": "adam"}, {})
    for summary in (exp, ssi, sei):
        writer.file_writer.add_summary(summary)
    writer.close()
    return event_files(log_dir)[0]


def write_torch_graph_only(log_dir: Path) -> Path:
    """What `add_graph` writes in a folder of its own: the model graph, no scalars."""
    import torch

    writer = _torch_writer(log_dir)
    writer.add_graph(torch.nn.Linear(2, 1), torch.zeros(1, 2))
    writer.close()
    return event_files(log_dir)[0]


def _scalar_tensor_value(tag: str, value: float, dtype: str, with_metadata: bool):
    from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

    tensor = tensor_pb2.TensorProto(tensor_shape=tensor_shape_pb2.TensorShapeProto())
    if dtype == "float_content":  # what TF2 eager writes: 4 little-endian bytes
        tensor.dtype = types_pb2.DT_FLOAT
        tensor.tensor_content = struct.pack("<f", value)
    elif dtype == "double_val":
        tensor.dtype = types_pb2.DT_DOUBLE
        tensor.double_val.append(value)
    elif dtype == "float_val":
        tensor.dtype = types_pb2.DT_FLOAT
        tensor.float_val.append(value)
    elif dtype == "half_val":
        tensor.dtype = types_pb2.DT_HALF
        tensor.half_val.append(int(np.array([value], np.float16).view(np.uint16)[0]))
    elif dtype == "int64_val":
        tensor.dtype = types_pb2.DT_INT64
        tensor.int64_val.append(int(value))
    else:
        raise ValueError(dtype)
    summary_value = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
    if with_metadata:
        summary_value.metadata.plugin_data.plugin_name = "scalars"
    return summary_value


def write_tensor_summaries(log_dir: Path, integers: bool = True) -> Path:
    """A TF2-style file (clearly not written by tensorflow, see module docstring): scalars as tensors.

    Metadata only on the first value of each tag, as TF's FileWriter strips it from later ones; also a text tensor
    and a histogram-shaped tensor, neither of which is a scalar. `integers=False` leaves out the int64 tag, which
    tbparse 0.0.9 cannot decode with this tensorboard (its tensor_util names `dtypes.int4`, which the stub lacks).
    """
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(log_dir))
    kinds = {"epoch_loss": "float_content", "epoch_accuracy": "double_val", "f32": "float_val",
             "half": "half_val", "count": "int64_val"}
    if not integers:
        del kinds["count"]
    for step in range(30):
        values = []
        for tag, kind in kinds.items():
            number = {"epoch_loss": 1.0 / (step + 1), "epoch_accuracy": step / 30, "f32": step * 0.25,
                      "half": 0.5 * step, "count": step * 7}[tag]
            if tag == "epoch_loss" and step == 7:
                number = float("nan")
            values.append(_scalar_tensor_value(tag, number, kind, with_metadata=step == 0))
        writer.add_event(event_pb2.Event(wall_time=1_700_000_000 + step, step=step,
                                         summary=summary_pb2.Summary(value=values)))
        text = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[b"hello"],
                                      tensor_shape=tensor_shape_pb2.TensorShapeProto())
        text_value = summary_pb2.Summary.Value(tag="notes", tensor=text)
        text_value.metadata.plugin_data.plugin_name = "text"
        histo = tensor_pb2.TensorProto(
            dtype=types_pb2.DT_DOUBLE, double_val=[0.0, 1.0, 3.0, 1.0, 2.0, 5.0],
            tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=2),
                                                               tensor_shape_pb2.TensorShapeProto.Dim(size=3)]))
        histo_value = summary_pb2.Summary.Value(tag="kernel_0", tensor=histo)
        histo_value.metadata.plugin_data.plugin_name = "histograms"
        writer.add_event(event_pb2.Event(wall_time=1_700_000_000.5 + step, step=step,
                                         summary=summary_pb2.Summary(value=[text_value, histo_value])))
    writer.close()
    return event_files(log_dir)[0]


def write_session_start_restart(log_dir: Path) -> Path:
    """A TF1-style file with a `SessionLog.START` at step 5 after steps 0-9: TensorBoard drops steps 5-9 before it."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(log_dir))
    for step in range(10):
        writer.add_event(event_pb2.Event(wall_time=1_600_000_000 + step, step=step, summary=summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag="loss", simple_value=float(step))])))
    writer.add_event(event_pb2.Event(wall_time=1_600_000_100, step=5,
                                     session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START)))
    for step in range(5, 12):
        writer.add_event(event_pb2.Event(wall_time=1_600_000_200 + step, step=step, summary=summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag="loss", simple_value=100.0 + step)])))
    writer.close()
    return event_files(log_dir)[0]


# (tag, step, value, wall_time): what the vectorised decoder must get exactly as the protobuf parser does, or leave
# to it. Zero step and zero wall time are omitted from the record by protobuf; a 128-byte tag needs a two-byte length.
LAYOUT_EDGE_POINTS = [
    ("loss", 0, 1.5, 1_700_000_000.25),
    ("loss", 1, -0.0, 1_700_000_001.5),
    ("loss", 127, float("nan"), 1_700_000_002.0),
    ("loss", 128, float("inf"), 1_700_000_003.0),
    ("loss", 16_383, 3.0e38, 1_700_000_004.0),
    ("loss", 16_384, 1.0e-45, 1_700_000_005.0),
    ("loss", 2**40, 2.0, 1_700_000_006.0),
    ("loss", -5, 7.0, 1_700_000_007.0),
    ("x", 3, 1.0, 1_700_000_008.0),
    ("abcdefg", 3, 2.0, 1_700_000_009.0),
    ("abcdefgh", 3, 3.0, 1_700_000_010.0),
    ("abcdefghi", 3, 4.0, 1_700_000_011.0),
    ("abcdefgi", 3, 5.0, 1_700_000_012.0),  # same length and first bytes as its neighbours, other last byte
    ("validation/épocas", 3, 6.0, 1_700_000_013.0),
    ("t" * 100, 4, 7.0, 1_700_000_014.0),
    ("t" * 128, 4, 8.0, 1_700_000_015.0),
    ("loss", 9, 9.0, 0.0),
]


def write_layout_edge_cases(log_dir: Path, repeat: int = 40) -> Path:
    """`LAYOUT_EDGE_POINTS`, each written `repeat` times (steps shifted by 1000 per round), plus one text value
    whose string holds a valid-looking TFRecord header: the kind of payload that can fool a framing shortcut."""
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    from losslint.io.tensorboard.records import masked_crc32c

    writer = EventFileWriter(str(log_dir))
    for round_number in range(repeat):
        for tag, step, value, wall in LAYOUT_EDGE_POINTS:
            writer.add_event(event_pb2.Event(
                wall_time=wall, step=step + 1000 * round_number if step > 0 else step,
                summary=summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])))
        if round_number == repeat // 2:
            # a valid length + length CRC that claims 10 MB, more than the file holds
            claimed = struct.pack("<Q", 10**7)
            fake = claimed + struct.pack("<I", masked_crc32c(claimed)) + b"y" * 30
            text = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[fake],
                                          tensor_shape=tensor_shape_pb2.TensorShapeProto())
            text_value = summary_pb2.Summary.Value(tag="notes", tensor=text)
            text_value.metadata.plugin_data.plugin_name = "text"
            writer.add_event(event_pb2.Event(wall_time=1_700_000_100.0, step=5,
                                             summary=summary_pb2.Summary(value=[text_value])))
    writer.close()
    return event_files(log_dir)[0]


def write_legacy_out_of_order(log_dir: Path) -> Path:
    """A version-1 event file (pre-2016 TensorFlow), written with tensorboard's `RecordWriter` since no current
    writer declares version 1: `loss` and `acc` at steps 0-9, then `loss` alone back at step 5, then 6-8.
    For such files TensorBoard drops the earlier points of the out-of-order event's tags with step >= its step."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "events.out.tfevents.1450000000.legacy"

    def scalar_event(step: int, **values: float) -> bytes:
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)
                                             for tag, value in values.items()])
        return event_pb2.Event(wall_time=1_450_000_000 + step, step=step, summary=summary).SerializeToString()

    with open(path, "wb") as handle:
        writer = RecordWriter(handle)
        writer.write(event_pb2.Event(wall_time=1_450_000_000, file_version="brain.Event:1").SerializeToString())
        for step in range(10):
            writer.write(scalar_event(step, loss=float(step), acc=step / 10))
        for step in range(5, 9):
            writer.write(scalar_event(step, loss=100.0 + step))
        writer.close()
    return path


def copy_truncated(source: Path, target: Path, cut: int = 7) -> Path:
    """A copy of `source` without its last `cut` bytes: the file of a writer that is still running."""
    data = Path(source).read_bytes()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data[:-cut])
    return target


def copy_with_flipped_byte(source: Path, target: Path, offset: int) -> Path:
    data = bytearray(Path(source).read_bytes())
    data[offset] ^= 0x40
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(bytes(data))
    return target


def write_garbage(target: Path, size: int = 4096, seed: int = 7) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes())
    return target


def record_offsets(path: Path) -> list[int]:
    """Start offset of every record, read with nothing but the framing's length fields."""
    data = Path(path).read_bytes()
    offsets, offset = [], 0
    while offset < len(data):
        offsets.append(offset)
        offset += 16 + struct.unpack_from("<Q", data, offset)[0]
    return offsets
