"""Hugging Face interop of model.py: safetensors read/write, LlamaForCausalLM folders (issue 12)."""
import json
import struct

import pytest
import torch

from model import ModelConfig, Transformer, read_safetensors, write_safetensors


def tiny():
    torch.manual_seed(0)
    cfg = ModelConfig.from_preset("toy", vocab_size=61, n_layers=2, d_model=32, n_heads=4, n_kv_heads=2,
                                  ffn_dim=48, max_seq_len=32)
    return Transformer(cfg).eval()


def test_hf_round_trip_gives_identical_logits(tmp_path):
    m = tiny()
    m.save(tmp_path / "hf", format="hf", max_shard_bytes=20_000)  # forces several shards
    files = sorted(p.name for p in (tmp_path / "hf").glob("*.safetensors"))
    assert len(files) > 1
    index = json.loads((tmp_path / "hf" / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"].values()) == set(files)
    cfg = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert cfg["architectures"] == ["LlamaForCausalLM"] and cfg["num_key_value_heads"] == 2
    r = Transformer.load(tmp_path / "hf")
    x = torch.randint(0, 61, (2, 9))
    assert torch.equal(m(x)[0], r(x)[0])


def test_safetensors_layout_follows_the_spec(tmp_path):
    """Parse the file by hand: u64 LE header length, JSON header, raw little-endian data."""
    t = {"a": torch.arange(6, dtype=torch.int32).view(2, 3), "b": torch.tensor([1.5, -2.0], dtype=torch.bfloat16)}
    write_safetensors(tmp_path / "x.safetensors", t)
    raw = (tmp_path / "x.safetensors").read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    assert n % 8 == 0
    header = json.loads(raw[8:8 + n])
    assert header["a"] == {"dtype": "I32", "shape": [2, 3], "data_offsets": [0, 24]}
    assert header["b"]["dtype"] == "BF16"
    begin, end = header["a"]["data_offsets"]
    assert struct.unpack("<6i", raw[8 + n + begin:8 + n + end]) == (0, 1, 2, 3, 4, 5)
    begin, end = header["b"]["data_offsets"]
    # bf16 is the top half of an fp32: 1.5 = 0x3FC0, -2.0 = 0xC000
    assert struct.unpack("<2H", raw[8 + n + begin:8 + n + end]) == (0x3FC0, 0xC000)


def test_several_dtypes_and_two_shard_index_read_back_exactly(tmp_path):
    torch.manual_seed(1)
    tensors = {"f32": torch.randn(3, 4), "f16": torch.randn(5).half(), "bf16": torch.randn(2, 2).bfloat16(),
               "i64": torch.arange(-3, 3), "u8": torch.arange(7, dtype=torch.uint8), "b": torch.tensor([True, False]),
               "f64": torch.randn(2, dtype=torch.float64), "empty": torch.zeros(0, 4)}
    names = list(tensors)
    write_safetensors(tmp_path / "s1.safetensors", {k: tensors[k] for k in names[:4]})
    write_safetensors(tmp_path / "s2.safetensors", {k: tensors[k] for k in names[4:]})
    back = {**read_safetensors(tmp_path / "s1.safetensors"), **read_safetensors(tmp_path / "s2.safetensors")}
    for k, v in tensors.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape and torch.equal(back[k], v), k


def test_hf_errors_are_clear(tmp_path):
    m = tiny()
    m.save(tmp_path / "hf", format="hf", max_shard_bytes=20_000)
    cfg_file = tmp_path / "hf" / "config.json"
    cfg = json.loads(cfg_file.read_text())

    cfg_file.write_text(json.dumps({**cfg, "architectures": ["MixtralForCausalLM"]}))
    with pytest.raises(ValueError, match="unsupported architecture"):
        Transformer.load(tmp_path / "hf")

    cfg_file.write_text(json.dumps({**cfg, "rope_scaling": {"type": "linear", "factor": 2.0}}))
    with pytest.raises(ValueError, match="rope_scaling"):
        Transformer.load(tmp_path / "hf")

    cfg_file.write_text(json.dumps({**cfg, "hidden_size": 64}))
    with pytest.raises(ValueError, match="do not match its config"):
        Transformer.load(tmp_path / "hf")

    cfg_file.write_text(json.dumps(cfg))
    next((tmp_path / "hf").glob("model-00002-*.safetensors")).unlink()
    with pytest.raises(FileNotFoundError, match="shards missing"):
        Transformer.load(tmp_path / "hf")


def test_truncated_safetensors_is_refused(tmp_path):
    write_safetensors(tmp_path / "x.safetensors", {"a": torch.randn(100)})
    raw = (tmp_path / "x.safetensors").read_bytes()
    (tmp_path / "x.safetensors").write_bytes(raw[:-40])
    with pytest.raises(ValueError, match="inconsistent offsets"):
        read_safetensors(tmp_path / "x.safetensors")
