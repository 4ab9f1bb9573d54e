from distil_explorer import DistilBertBackbone, parameter_table
from distil_explorer.analysis.params import ParameterRow, params_by_block
from tests.conftest import TINY


def test_rows_sum_to_count_params(tiny_backbone):
    rows = parameter_table(tiny_backbone)
    assert sum(r.params for r in rows) == tiny_backbone.count_params()
    assert all(isinstance(r, ParameterRow) for r in rows)


def test_sum_holds_for_an_uneven_config():
    model = DistilBertBackbone(
        vocabulary_size=37,
        num_layers=3,
        num_heads=3,
        hidden_dim=12,
        intermediate_dim=7,
        max_sequence_length=9,
    )
    assert sum(r.params for r in parameter_table(model)) == model.count_params()


def test_blocks_and_components_are_named_for_people(tiny_backbone):
    rows = parameter_table(tiny_backbone)
    by_key = {(r.block, r.component, r.variable): r for r in rows}
    hidden, inter = TINY["hidden_dim"], TINY["intermediate_dim"]
    assert by_key[("embeddings", "token_embedding", "embeddings")].shape == (20, hidden)
    assert by_key[("layer 0", "attention.query", "kernel")].params == hidden * hidden
    assert by_key[("layer 1", "ffn.output", "kernel")].shape == (hidden, inter)
    assert by_key[("layer 1", "ffn.layer_norm", "gamma")].params == hidden
    assert {r.block for r in rows} == {"embeddings", "layer 0", "layer 1"}


def test_params_by_block_matches_the_architecture(tiny_backbone):
    totals = params_by_block(parameter_table(tiny_backbone))
    h, i, v, p = 8, 16, 20, 12
    per_layer = 4 * (h * h + h) + 2 * (2 * h) + (h * i + i) + (i * h + h)
    assert totals == {
        "embeddings": v * h + p * h + 2 * h,
        "layer 0": per_layer,
        "layer 1": per_layer,
    }


def test_count_parameters_matches_built_models(tiny_backbone):
    from distil_explorer.config import backbone_presets, count_parameters

    assert count_parameters(tiny_backbone.get_config()) == tiny_backbone.count_params()
    for preset in backbone_presets.values():
        assert count_parameters(preset["config"]) == preset["metadata"]["params"]
