import math

import numpy as np
import pytest
from PIL import Image, ImageDraw

from keras_htr.data import read_dataset
from keras_htr.data.line_crop import crop_line, line_angle

PAGE_2013 = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2013-07-15"
PAGE_2019 = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
ALTO_V4 = "http://www.loc.gov/standards/alto/ns-v4#"


def _line_image(width=120, height=30, seed=0):
    rng = np.random.default_rng(seed)
    img = np.full((height, width), 255, np.uint8)
    for x in range(5, width - 5, 9):
        h = int(rng.integers(8, height - 6))
        img[height - 3 - h: height - 3, x: x + 3] = 0
    return img


def _write_line(folder, stem, text, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_line_image(seed=seed)).save(folder / f"{stem}.png")
    if text is not None:
        (folder / f"{stem}.gt.txt").write_text(text, encoding="utf-8")


# ----- folder of images + .gt.txt


def test_folder_reader_recursive_with_bad_items(tmp_path):
    _write_line(tmp_path, "a", "first line\n")
    _write_line(tmp_path / "sub" / "deeper", "b", "cafe\u0301 second")  # decomposed é -> NFC
    _write_line(tmp_path, "no_text", None)
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00garbage")
    (tmp_path / "corrupt.gt.txt").write_text("x")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "empty.gt.txt").write_text("x")
    _write_line(tmp_path, "blank_text", "  \n")
    (tmp_path / "orphan.gt.txt").write_text("lost")
    (tmp_path / "notes.txt").write_text("not a dataset file")

    ds = read_dataset(tmp_path)
    assert ds.format == "folder"
    assert sorted(s.text for s in ds) == ["caf\u00e9 second", "first line"]
    for s in ds:
        assert s.image.dtype == np.uint8 and s.image.shape == (30, 120)
    reasons = {p.rsplit("/", 1)[-1]: r for p, r in ((e.path, e.reason) for e in ds.errors)}
    assert set(reasons) == {"no_text.png", "corrupt.png", "empty.png", "blank_text.gt.txt", "orphan.gt.txt"}
    assert "missing transcription" in reasons["no_text.png"]
    assert "empty transcription" in reasons["blank_text.gt.txt"]
    assert "decode" in reasons["corrupt.png"] and "decode" in reasons["empty.png"]


def test_folder_lazy_matches_eager(tmp_path):
    for i in range(3):
        _write_line(tmp_path, f"l{i}", f"line {i}", seed=i)
    eager, lazy = read_dataset(tmp_path), read_dataset(tmp_path, lazy=True)
    assert not lazy[0].is_loaded
    for a, b in zip(eager, lazy):
        assert a.text == b.text and a.source == b.source
        np.testing.assert_array_equal(a.image, b.image)


def test_missing_path_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_dataset(tmp_path / "nope")


# ----- IAM


def test_iam_layout_with_err_lines(tmp_path):
    lines = [
        "#--- lines.txt ---",
        "# format: a01-000u-00 ok 154 19 408 746 1663 91 A|MOVE|to|stop",
        "a01-000u-00 ok 154 19 408 746 1663 91 A|MOVE|to|stop|Mr.|Gaitskell",
        "a01-000u-01 err 156 19 395 932 1850 105 nominating|any|more",
        "a01-000u-02 ok 157 16 408 1106 1986 91 Labour|life|Peers",
        "a01-000u-03 garbage",
        "",
    ]
    (tmp_path / "ascii").mkdir()
    (tmp_path / "ascii" / "lines.txt").write_text("\n".join(lines))
    form = tmp_path / "lines" / "a01" / "a01-000u"
    for i in (0, 1):  # no image for -02
        _write_line(form, f"a01-000u-0{i}", None, seed=i)

    ds = read_dataset(tmp_path)
    assert ds.format == "iam"
    assert [s.text for s in ds] == ["A MOVE to stop Mr. Gaitskell", "nominating any more"]
    assert [s.flagged for s in ds] == [False, True]
    assert ds[0].source.endswith("a01-000u-00.png#a01-000u-00")
    assert len(ds.errors) == 2
    assert any("a01-000u-02.png" in e.path and "not found" in e.reason for e in ds.errors)
    assert any(e.path.endswith("lines.txt:6") and "malformed" in e.reason for e in ds.errors)
    assert [s.text for s in read_dataset(tmp_path, skip_flagged=True)] == ["A MOVE to stop Mr. Gaitskell"]


# ----- PAGE XML


def _rotated_rect(cx, cy, length, thickness, degrees):
    """Corners of a rectangle centred at (cx, cy), its long side rising by `degrees` (y down)."""
    a = math.radians(degrees)
    ux, uy = math.cos(a), -math.sin(a)  # writing direction
    vx, vy = -uy, ux  # downwards across the line
    hl, ht = length / 2, thickness / 2
    return [
        (cx - ux * hl - vx * ht, cy - uy * hl - vy * ht),
        (cx + ux * hl - vx * ht, cy + uy * hl - vy * ht),
        (cx + ux * hl + vx * ht, cy + uy * hl + vy * ht),
        (cx - ux * hl + vx * ht, cy - uy * hl + vy * ht),
    ]


def _page_fixture(folder, ns, name="page"):
    """A 400x300 page: a line rotated by 20 degrees, a horizontal line, a blob outside both."""
    page = Image.new("L", (400, 300), 255)
    draw = ImageDraw.Draw(page)
    rotated = _rotated_rect(200, 120, 240, 30, 20)
    inner = _rotated_rect(200, 120, 220, 14, 20)
    draw.polygon(inner, fill=0)  # the "ink" of the rotated line
    draw.rectangle((50, 250, 150, 265), fill=0)  # horizontal line ink
    draw.rectangle((300, 20, 330, 40), fill=0)  # ink outside every polygon, inside the rotated bbox
    page.save(folder / f"{name}.png")
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in rotated)
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<PcGts xmlns="{ns}">
  <Page imageFilename="{name}.png" imageWidth="400" imageHeight="300">
    <TextRegion id="r1"><Coords points="0,0 400,0 400,300 0,300"/>
      <TextLine id="l1"><Coords points="{pts}"/>
        <TextEquiv index="2"><Unicode>wrong</Unicode></TextEquiv>
        <TextEquiv index="1"><Unicode>rotated line</Unicode></TextEquiv>
      </TextLine>
      <TextLine id="l2"><Coords points="45,245 155,245 155,270 45,270"/>
        <Baseline points="45,265 155,265"/>
        <Word id="w1"><Coords points="45,245 90,245 90,270 45,270"/><TextEquiv><Unicode>two</Unicode></TextEquiv></Word>
        <Word id="w2"><Coords points="95,245 155,245 155,270 95,270"/><TextEquiv><Unicode>words</Unicode></TextEquiv></Word>
      </TextLine>
      <TextLine id="l3"><Coords points="10,10 50,10 50,30 10,30"/></TextLine>
      <TextLine id="l4"><Coords points="500,500 600,500 600,540 500,540"/><TextEquiv><Unicode>off page</Unicode></TextEquiv></TextLine>
    </TextRegion>
  </Page>
</PcGts>"""
    (folder / f"{name}.xml").write_text(xml, encoding="utf-8")


@pytest.mark.parametrize("ns", [PAGE_2013, PAGE_2019])
def test_page_xml_rotated_polygon(tmp_path, ns):
    _page_fixture(tmp_path, ns)
    for ds in (read_dataset(tmp_path), read_dataset(tmp_path / "page.xml"), read_dataset(tmp_path, lazy=True)):
        assert ds.format == "page"
        assert [s.text for s in ds] == ["rotated line", "two words"]
        rotated = ds[0].image
        # Rotated back to horizontal: about 240 x 30, not the ~250 x 110 bounding box.
        assert 220 <= rotated.shape[1] <= 260 and 25 <= rotated.shape[0] <= 40
        # The ink band is horizontal: its rows are dark across most of the width.
        dark_rows = (rotated < 128).mean(axis=1)
        assert dark_rows.max() > 0.8
        # The blob outside the polygon is whitened: only the inner band is dark.
        assert (rotated < 128).sum() < 1.2 * 220 * 14
        reasons = {e.path.rsplit("#", 1)[-1]: e.reason for e in ds.errors}
        assert "no transcription" in reasons["l3"]
        assert "outside" in reasons["l4"]
        # The page image is not reported as an image without .gt.txt.
        assert not any(e.path.endswith("page.png") for e in ds.errors)


def test_line_angle_and_crop_whitening():
    assert abs(line_angle(_rotated_rect(100, 100, 200, 20, 15)) - 15) < 0.5
    assert abs(line_angle([(0, 0), (1, 1)], baseline=[(0, 10), (100, 10)])) < 1e-9
    page = np.zeros((50, 50), np.uint8)  # all ink
    crop = crop_line(page, [(10, 10), (40, 10), (10, 40)], baseline=[(10, 40), (40, 40)])  # a triangle
    assert crop.shape == (31, 31)
    assert crop[1, 20] == 0 and crop[-2, -2] == 255  # inside ink, outside whitened


def test_page_missing_image_and_bad_xml(tmp_path):
    _page_fixture(tmp_path, PAGE_2019)
    (tmp_path / "page.png").unlink()
    (tmp_path / "broken.xml").write_text("<PcGts><Page>")
    ds = read_dataset(tmp_path)
    assert len(ds) == 0
    reasons = {e.path.rsplit("/", 1)[-1]: e.reason for e in ds.errors}
    assert "not found" in reasons["page.xml"]
    assert "unreadable XML" in reasons["broken.xml"]


def test_page_and_alto_readers_refuse_the_other_format(tmp_path):
    from keras_htr.data.alto import read_alto
    from keras_htr.data.page_xml import read_page

    _page_fixture(tmp_path, PAGE_2019)
    (tmp_path / "scan.xml").write_text(f'<alto xmlns="{ALTO_V4}"><Layout/></alto>')
    for reader, path, reason in ((read_alto, "page.xml", "not an ALTO file"),
                                 (read_page, "scan.xml", "not a PAGE XML file")):
        samples, errors, image_path = reader(tmp_path / path)
        assert samples == [] and image_path is None
        assert [(e.path, e.reason) for e in errors] == [(str(tmp_path / path), reason)]


XXE = """<?xml version="1.0"?>
<!DOCTYPE PcGts [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<PcGts xmlns="%s"><Page imageFilename="p.png"><TextLine id="l"><Coords points="0,0 9,0 9,9"/>
<TextEquiv><Unicode>&xxe;</Unicode></TextEquiv></TextLine></Page></PcGts>""" % PAGE_2019

LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
<PcGts xmlns="%s"><Page imageFilename="p.png"><TextLine id="l"><Coords points="0,0 9,0 9,9"/>
<TextEquiv><Unicode>&lol9;</Unicode></TextEquiv></TextLine></Page></PcGts>""" % PAGE_2019


@pytest.mark.parametrize("xml", [XXE, LAUGHS], ids=["xxe", "billion_laughs"])
def test_unsafe_xml_refused(tmp_path, xml):
    Image.new("L", (10, 10), 255).save(tmp_path / "p.png")
    (tmp_path / "p.xml").write_text(xml)
    (tmp_path / "p.gt.txt").write_text("the page image also has a transcription")
    ds = read_dataset(tmp_path)
    assert not any("root:" in s.text or "lol" in s.text for s in ds)
    assert [e.reason for e in ds.errors if e.path.endswith("p.xml")][0].startswith("refused unsafe XML")


# ----- ALTO


def test_alto_v4(tmp_path):
    page = Image.new("L", (300, 200), 255)
    draw = ImageDraw.Draw(page)
    draw.rectangle((20, 30, 180, 50), fill=0)
    draw.rectangle((20, 100, 100, 120), fill=60)
    page.save(tmp_path / "scan.tif")
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<alto xmlns="{ALTO_V4}">
  <Description><MeasurementUnit>pixel</MeasurementUnit>
    <sourceImageInformation><fileName>scan.tif</fileName></sourceImageInformation></Description>
  <Layout><Page ID="p1" WIDTH="300" HEIGHT="200"><PrintSpace>
    <TextBlock ID="b1">
      <TextLine ID="tl1" HPOS="15" VPOS="25" WIDTH="170" HEIGHT="30">
        <String CONTENT="Hello" HPOS="15" VPOS="25" WIDTH="60" HEIGHT="30"/><SP/>
        <String CONTENT="wor" HPOS="80" VPOS="25" WIDTH="60" HEIGHT="30"/><HYP CONTENT="-"/>
      </TextLine>
      <TextLine ID="tl2" HPOS="15" VPOS="95" WIDTH="90" HEIGHT="30">
        <Shape><Polygon POINTS="15,95 105,95 105,125 15,125"/></Shape>
        <String CONTENT="second"/>
      </TextLine>
      <TextLine ID="tl3" HPOS="900" VPOS="900" WIDTH="10" HEIGHT="10"><String CONTENT="gone"/></TextLine>
      <TextLine ID="tl4" HPOS="1" VPOS="1" WIDTH="10" HEIGHT="10"/>
    </TextBlock>
  </PrintSpace></Page></Layout>
</alto>"""
    (tmp_path / "scan.xml").write_text(xml, encoding="utf-8")
    ds = read_dataset(tmp_path)
    assert ds.format == "alto"
    assert [s.text for s in ds] == ["Hello wor-", "second"]
    assert ds[0].image.shape == (31, 171)
    assert ds[1].source.endswith("scan.xml#tl2")
    reasons = {e.path.rsplit("#", 1)[-1]: e.reason for e in ds.errors}
    assert "outside" in reasons["tl3"] and "no transcription" in reasons["tl4"]
