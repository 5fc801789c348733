from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.checks import load_checked_suite, suite_schema
from benchmark.errors import SuiteError
from benchmark.suite import expand_cells
from tests.conftest import ROOT, write_suite


def test_tiny_suite_loads_with_defaults(tiny_suite_file):
    suite = load_checked_suite(tiny_suite_file)
    assert suite.name == "tiny"
    assert suite.train.epochs == 2
    assert suite.train.optimizer == "adam"  # default
    assert suite.datasets["phantoms"].options["per_class"] == 15
    assert suite.datasets["phantoms"].options["classes"] == [
        "glioma", "meningioma", "notumor", "pituitary"
    ]  # fmt: skip


@pytest.mark.parametrize("path", sorted((ROOT / "suites").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_suites_validate(path):
    assert expand_cells(load_checked_suite(path))


def test_typo_names_the_field_and_the_fix(tmp_path, tiny_suite):
    tiny_suite["train"]["epocs"] = 3
    with pytest.raises(SuiteError) as info:
        load_checked_suite(write_suite(tmp_path / "bad.yaml", tiny_suite))
    message = str(info.value)
    assert "train.epocs: unknown setting" in message
    assert "Did you mean 'epochs'?" in message
    assert "(found 3)" in message


def test_every_problem_is_reported_with_value_and_expectation(tmp_path, tiny_suite):
    tiny_suite["train"] |= {"lr": -1, "optimizer": "adm"}
    tiny_suite["backbones"] = ["resnt50"]
    tiny_suite["datasets"]["phantoms"]["layout"] = "synthtic"
    with pytest.raises(SuiteError) as info:
        load_checked_suite(write_suite(tmp_path / "bad.yaml", tiny_suite))
    message = str(info.value)
    assert "4 problems" in message
    assert "train.lr: Input should be greater than 0 (found -1)" in message
    assert "train.optimizer: Input should be 'adam', 'adamw' or 'sgd' (found 'adm')" in message
    assert "backbones.0.name: unknown backbone 'resnt50'" in message and "'resnet50'" in message
    assert "datasets.phantoms.layout: unknown layout 'synthtic'" in message
    assert "Did you mean 'synthetic'?" in message


def test_unknown_strategy_and_layout_option(tmp_path, tiny_suite):
    tiny_suite["strategies"] = {"finetun": {}}
    tiny_suite["datasets"]["phantoms"]["options"]["per_clas"] = 3
    with pytest.raises(SuiteError) as info:
        load_checked_suite(write_suite(tmp_path / "bad.yaml", tiny_suite))
    message = str(info.value)
    assert "unknown strategy 'finetun'" in message and "'finetune'" in message
    assert "datasets.phantoms.options.per_clas: unknown setting" in message


def test_not_yaml_and_not_a_mapping(tmp_path):
    (tmp_path / "a.yaml").write_text("name: [unclosed")
    with pytest.raises(SuiteError, match="not valid YAML"):
        load_checked_suite(tmp_path / "a.yaml")
    (tmp_path / "b.yaml").write_text("- a list\n")
    with pytest.raises(SuiteError, match="must hold a mapping"):
        load_checked_suite(tmp_path / "b.yaml")
    with pytest.raises(SuiteError, match="does not exist"):
        load_checked_suite(tmp_path / "missing.yaml")


def test_environment_variables_and_relative_paths(tmp_path, tiny_suite):
    tiny_suite["datasets"]["mri"] = {"layout": "brain-tumor-mri", "root": "${DATA:-data}/mri"}
    path = write_suite(tmp_path / "s.yaml", tiny_suite)
    assert load_checked_suite(path, env={}).datasets["mri"].root == tmp_path / "data" / "mri"
    assert load_checked_suite(path, env={"DATA": "/srv"}).datasets["mri"].root == Path("/srv/mri")
    tiny_suite["datasets"]["mri"]["root"] = "${NOPE}/mri"
    with pytest.raises(SuiteError, match=r"datasets\.mri\.root: environment variable NOPE"):
        load_checked_suite(write_suite(tmp_path / "s.yaml", tiny_suite), env={})


def test_overrides(tiny_suite_file):
    suite = load_checked_suite(
        tiny_suite_file,
        overrides=[
            "train.epochs=5",
            "train.augment.hflip=true",
            "backbones.0.name=test_efficientnet",
            "strategies={finetune: {}, probe: {kind: linear_probe}}",
        ],
    )
    assert suite.train.epochs == 5
    assert suite.train.augment is not None and suite.train.augment.hflip
    assert suite.backbones[0].name == "test_efficientnet"
    assert list(suite.strategies) == ["finetune", "probe"]
    with pytest.raises(SuiteError, match="KEY=VALUE"):
        load_checked_suite(tiny_suite_file, overrides=["train.epochs"])
    with pytest.raises(SuiteError, match="has no item 3"):
        load_checked_suite(tiny_suite_file, overrides=["backbones.3.name=x"])
    with pytest.raises(SuiteError, match=r"train\.epochs: Input should be greater"):
        load_checked_suite(tiny_suite_file, overrides=["train.epochs=0"])


def test_an_override_with_a_wildcard_sets_every_dataset(tmp_path, tiny_suite):
    """``*`` stands for every key of a mapping (every item of a list): one override sets a
    layout's option on every dataset, as MedMNIST+'s size."""
    tiny_suite["datasets"]["more"] = dict(tiny_suite["datasets"]["phantoms"], options={})
    path = write_suite(tmp_path / "s.yaml", tiny_suite)
    suite = load_checked_suite(path, overrides=["datasets.*.options.size=48",
                                                "datasets.*.preprocess=[{pad: 64}]"])  # fmt: skip
    assert {name: d.options["size"] for name, d in suite.datasets.items()} == {
        "phantoms": 48, "more": 48
    }  # fmt: skip
    assert all(d.preprocess == [{"pad": 64}] for d in suite.datasets.values())
    every = load_checked_suite(path, overrides=[
        "backbones=[{name: test_resnet}, {name: test_efficientnet}]", "backbones.*.pretrained=false"
    ])  # fmt: skip
    assert [b.pretrained for b in every.backbones] == [False, False]
    with pytest.raises(SuiteError, match=r"train\.epochs is not a mapping or a list"):
        load_checked_suite(path, overrides=["train.epochs.*=3"])
    with pytest.raises(SuiteError, match="`\\*` matches nothing"):
        load_checked_suite(path, overrides=["datasets.phantoms.options={}",
                                            "datasets.phantoms.options.*=3"])  # fmt: skip


def test_grid_expansion_and_hashes(tiny_suite_file):
    suite = load_checked_suite(
        tiny_suite_file,
        overrides=[
            "backbones=[test_resnet, test_efficientnet]",
            "strategies={finetune: {}, probe: {kind: linear_probe}}",
        ],
    )
    cells = expand_cells(suite)
    assert [c.name for c in cells] == [
        "phantoms/test_resnet/finetune",
        "phantoms/test_resnet/probe",
        "phantoms/test_efficientnet/finetune",
        "phantoms/test_efficientnet/probe",
    ]
    assert cells[1].strategy_kind == "linear_probe"
    hashes = [c.config_hash for c in cells]
    assert len(set(hashes)) == 4
    again = expand_cells(load_checked_suite(tiny_suite_file, overrides=[
        "backbones=[test_resnet, test_efficientnet]",
        "strategies={finetune: {}, probe: {kind: linear_probe}}",
    ]))  # fmt: skip
    assert [c.config_hash for c in again] == hashes  # stable across loads
    changed = expand_cells(load_checked_suite(tiny_suite_file, overrides=["train.lr=0.5"]))
    assert changed[0].config_hash != hashes[0]


def test_duplicate_backbones_rejected(tmp_path, tiny_suite):
    tiny_suite["backbones"] = ["test_resnet", "test_resnet"]
    with pytest.raises(SuiteError, match="listed more than once"):
        load_checked_suite(write_suite(tmp_path / "s.yaml", tiny_suite))


def test_schema_describes_the_suite():
    schema = suite_schema()
    assert {"name", "datasets", "backbones", "strategies", "train"} <= set(schema["properties"])


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _documents(properties: dict, model) -> None:
    """Every setting of ``model`` is among ``properties``, with its description."""
    for name, field in model.model_fields.items():
        assert name in properties, (model.__name__, name)
        assert properties[name].get("description") == field.description, (model.__name__, name)


def test_schema_documents_every_option_of_every_plugin():
    from benchmark.data import list_layouts
    from benchmark.explain import list_methods
    from benchmark.strategies import list_strategies

    schema = suite_schema()
    defs = schema["$defs"]
    variants = {v["title"]: v for v in defs["StrategyConfig"]["anyOf"]}
    for strategy in list_strategies():
        assert variants[strategy.name]["description"] == strategy.description
        _documents(variants[strategy.name]["properties"], strategy.Options)
    sections = defs["ExplainConfig"]["properties"]
    for method in list_methods():
        if method.options is None:
            assert method.name not in sections
        else:
            assert method.about in sections[method.name]["description"]
            _documents(_resolve(schema, sections[method.name])["properties"], method.options)
    layouts = {o["title"]: o for o in defs["DatasetConfig"]["properties"]["options"]["anyOf"]}
    for layout in list_layouts():
        _documents(_resolve(schema, layouts[layout.name])["properties"], layout.options)


@pytest.mark.parametrize("path", sorted((ROOT / "suites").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_suites_plugin_settings_match_the_documented_schema(path):
    import yaml

    jsonschema = pytest.importorskip("jsonschema")
    schema, suite = suite_schema(), yaml.safe_load(path.read_text())

    def check(value, definition: str) -> None:
        jsonschema.validate(value, {"$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"})

    for entry in suite.get("strategies", {}).values():
        check(entry, "StrategyConfig")
    for dataset in suite["datasets"].values():
        check(dataset, "DatasetConfig")
    if suite.get("explain"):
        check(suite["explain"], "ExplainConfig")
    with pytest.raises(jsonschema.ValidationError):
        check({"kind": "scratch", "freeze": 0.5}, "StrategyConfig")
    with pytest.raises(jsonschema.ValidationError):
        check({"lime": {"sample": 8}}, "ExplainConfig")


def test_a_strategy_owns_its_settings(tmp_path, tiny_suite):
    tiny_suite["strategies"] = {
        "finetune": {},
        "partial": {"freeze": 0.5, "bn_trainable": True},  # flat, as suites write them
        "probe": {"kind": "linear_probe", "train": {"lr": 0.1}},
    }
    cells = expand_cells(load_checked_suite(write_suite(tmp_path / "s.yaml", tiny_suite)))
    options = {c.strategy: c.strategy_config.options for c in cells}
    assert options == {  # every setting the strategy runs with, defaults filled in
        "finetune": {"freeze": 0.0, "bn_trainable": False},
        "partial": {"freeze": 0.5, "bn_trainable": True},
        "probe": {"bn_trainable": False, "features": True},
    }
    assert cells[2].resolved()["strategy_config"] == {
        "kind": "linear_probe", "train": {"lr": 0.1}, "bn_trainable": False, "features": True
    }  # fmt: skip
    tiny_suite["strategies"] = {
        "scratch": {"freeze": 0.5},
        "partial": {"freeze": 1.5, "bn_trainabel": True},
        "weighted": {"kind": "cost_sensitive", "class_weights": "equal"},
    }
    with pytest.raises(SuiteError) as info:
        load_checked_suite(write_suite(tmp_path / "s.yaml", tiny_suite))
    message = str(info.value)
    assert (
        "strategies.scratch.freeze: unknown setting; expected one of ['kind', 'train']" in message
    )
    assert (
        "freeze is a setting of the cost_sensitive, finetune, partial or supcon strategy" in message
    )
    assert "strategies.partial.freeze: a freeze fraction must be within [0, 1]" in message
    assert "strategies.partial.bn_trainabel: unknown setting" in message
    assert "Did you mean 'bn_trainable'?" in message
    assert "strategies.weighted.class_weights: Input should be a valid dictionary" in message


def test_the_schema_alone_checks_the_structure_of_plugin_settings(tmp_path, tiny_suite):
    from benchmark.suite import load_suite

    tiny_suite["strategies"] = {"scratch": {"freeze": 0.5}}  # the registries say no, later
    tiny_suite["explain"] = {"lime": {"samples": 2}}
    suite = load_suite(write_suite(tmp_path / "s.yaml", tiny_suite))
    assert suite.strategies["scratch"].options == {"freeze": 0.5}
    tiny_suite["explain"] = {"lime": 3}
    with pytest.raises(SuiteError, match=r"explain\.lime: expected a mapping of the lime method"):
        load_suite(write_suite(tmp_path / "s.yaml", tiny_suite))


def test_an_explanation_method_owns_its_section(tmp_path, tiny_suite):
    tiny_suite["explain"] = {"methods": ["gradcam", "lime"], "occlusion": {"patch": 0.5}}
    explain = load_checked_suite(write_suite(tmp_path / "s.yaml", tiny_suite)).explain
    assert explain.method_options("lime")["samples"] == 256  # listed: its defaults
    assert explain.method_options("occlusion") == {
        "patch": 0.5,
        "stride": 0.0625,
        "baseline": "mean",
    }
    assert explain.method_options("integrated_gradients") == {}  # neither listed nor given
    tiny_suite["explain"] = {
        "per_clas": 3,
        "lme": {"samples": 64},
        "gradcam": {"layer": "x"},
        "lime": {"samples": 4, "sample": 64},
        "occlusion": {"patch": 0.1, "stride": 0.2},
    }
    with pytest.raises(SuiteError) as info:
        load_checked_suite(write_suite(tmp_path / "s.yaml", tiny_suite))
    message = str(info.value)
    assert "explain.per_clas: unknown setting" in message and "Did you mean 'per_class'?" in message
    assert "explain.lme: unknown setting" in message and "Did you mean 'lime'?" in message
    assert "explain.gradcam: unknown setting" in message
    assert "gradcam is an explanation method without settings" in message
    assert "explain.lime.samples: Input should be greater than or equal to 8" in message
    assert "explain.lime.sample: unknown setting" in message and "'samples'" in message
    assert "explain.occlusion: `stride <= patch` must hold" in message


def test_aliases_stay_shared_and_variables_still_expand(tmp_path):
    path = tmp_path / "alias.yaml"
    path.write_text(
        "name: ${SUITE_NAME:-tiny}\n"
        "datasets:\n"
        "  one: &data {layout: synthetic, options: {per_class: 15, size: 32}}\n"
        "  two: *data\n"
        "backbones: [{name: test_resnet, pretrained: false}]\n"
    )
    suite = load_checked_suite(path, env={"SUITE_NAME": "renamed"})
    assert suite.name == "renamed" and list(suite.datasets) == ["one", "two"]
    assert suite.datasets["one"] == suite.datasets["two"]
