import pytest

from distil_explorer import parameter_table
from distil_explorer.views.export import VIEWS, export_view


@pytest.mark.parametrize("view", [v for v in VIEWS if v != "parameters"])
@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_every_view_exports_as_png_and_svg(tiny_trace, tmp_path, view, suffix):
    path = export_view(tmp_path / f"v{suffix}", tiny_trace, view, layer=1, head=1)
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") if suffix == ".png" else b"<svg" in data


def test_parameters_and_report_export(tiny_trace, tiny_backbone, tmp_path):
    rows = parameter_table(tiny_backbone)
    assert (
        b"<svg"
        in export_view(tmp_path / "p.svg", None, "parameters", rows=rows).read_bytes()
    )
    page = export_view(tmp_path / "all.html", tiny_trace, rows=rows).read_text()
    assert "createModel" in page


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"path": "x.jpg"}, r"allowed: a name ending in \.png, \.svg, \.html"),
        ({"view": "nope"}, "view='nope'"),
        ({"view": "parameters"}, "rows: needed"),
        ({"layer": 9}, "layer=9"),
    ],
)
def test_bad_exports_are_refused_and_write_nothing(
    tiny_trace, tmp_path, kwargs, message
):
    path = tmp_path / kwargs.pop("path", "x.png")
    with pytest.raises(ValueError, match=message):
        export_view(path, tiny_trace, **kwargs)
    assert list(tmp_path.iterdir()) == []
