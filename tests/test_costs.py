import numpy as np
import pytest

from utils import costs, image_data


def test_layer_formulas_and_lora_count():
    assert costs.conv2d_parameters(3, 1, 32) == 320
    assert costs.dense_parameters(1024, 128) == 131_200
    assert costs.lora_parameters([(1024, 128), (3, 3, 32, 64)], rank=4) == 4 * (1024 + 128) + 4 * (288 + 64)
    assert costs.count_parameters([np.zeros((3, 4)), np.zeros(5)]) == 17


def test_training_memory_is_16_bytes_per_parameter_for_full_finetuning():
    m = costs.training_memory(1e9, 1e9)
    assert m["total"] == 16e9 and m["moments"] == 8e9
    lora = costs.training_memory(1e9 + 1e6, 1e6)
    assert lora["total"] == pytest.approx(2 * 1e9 + 16 * 1e6)  # 2 B per frozen parameter + 16 B per LoRA parameter


def test_projection_orders_and_lora_share():
    rows = costs.projection()
    assert [r["model"] for r in rows][0].startswith("MiniLM")
    assert all(a["full_state_GB"] < b["full_state_GB"] for a, b in zip(rows, rows[1:]))
    seven = rows[2]
    assert seven["lora_params"] == 32 * 2 * 8 * (4096 + 4096)


def test_shifted_domains():
    a = image_data.digits()
    t = image_data.shifted(a, "translate", 1)
    assert np.array_equal(t.x_test[:, 1:, 1:], a.x_test[:, :-1, :-1]) and (t.x_test[:, 0] == 0).all()
    n = image_data.shifted(a, "noise", 0.2)
    assert 0 <= n.x_train.min() and n.x_train.max() <= 1 and np.array_equal(n.y_train, a.y_train)
    assert np.array_equal(image_data.shifted(a, "noise", 0.2).x_train, n.x_train)  # fixed seed
    with pytest.raises(ValueError, match="noise, translate, rot90, permute"):
        image_data.shifted(a, "blur")


def test_decoder_formula_counts_the_bundled_language_model():
    from utils import catalog, models

    r = catalog.BUNDLED["byte-lm"].recipe
    counted = costs.count_parameters(models.load("byte-lm", trainable=True).trainable_variables)
    from utils import lm_model

    assert costs.decoder_parameters(r.layers, r.d_model, lm_model.VOCAB, r.ctx) == counted


def test_memory_strategies_follow_their_formulas():
    n, r = 7e9, 4e6
    m = costs.memory_strategies(n, r, devices=8)
    assert m["full (bf16 + fp32 Adam)"] == 16 * n and m["full, 8-bit Adam"] == 10 * n
    assert m["ZeRO-3 / FSDP over 8"] == 2 * n and m["ZeRO-1 over 8"] == 4 * n + 1.5 * n
    assert m["ZeRO-1 over 8"] > m["ZeRO-2 over 8"] > m["ZeRO-3 / FSDP over 8"]
    assert m["QLoRA (4-bit NF4 frozen weights)"] < m["LoRA (bf16 frozen weights)"] / 3
    seven_b = costs.MODELS[2]
    assert costs.checkpointed_activation_bytes(seven_b, 1, 4096) < costs.activation_bytes(seven_b, 1, 4096) / 5
    # Llama-2-7B's KV cache: 2 x 32 layers x 4096 hidden x 2 bytes = 0.5 MiB per token
    assert costs.kv_cache_bytes(seven_b, 1, 1) == 2 * 32 * 4096 * 2
    assert costs.kv_cache_bytes(seven_b, 1, 1, kv_heads=8) == costs.kv_cache_bytes(seven_b, 1, 1) / 4
