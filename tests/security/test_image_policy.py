"""Images in untrusted text never load (issue 15, point 4: the sanitiser's image policy matches CSP).

A markdown image in model text, guidelines, a principle's description or a
synthesized prompt becomes a link to its URL labelled "image: <alt>" (inside
a link, only that label), so no page of ours asks another host for anything
and nothing the sanitiser lets through is blocked by the site's policy
(``img-src 'self' data:``, config/settings.py).
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotate.templatetags.docket_markdown import render_markdown
from curation.jobs.services import job_create
from curation.models import SynthesizedInstruction
from tests.annotate.test_markdown import Elements, assert_inert
from tests.factories import make_item

PIXEL = "https://tracker.example.org/pixel.png?who=annotator"


def _no_image(html: str) -> None:
    assert "<img" not in html.lower()
    assert "img" not in Elements(html).tags()


@pytest.mark.parametrize(
    "source",
    [
        f"![pixel]({PIXEL})",
        f"![]({PIXEL})",
        f'![pixel]({PIXEL} "a title")',
        "![x](//tracker.example.org/p.png)",
        "![x](http://tracker.example.org/p.png)",
        "![x](/static/css/docket.css)",
        "![x](data:image/png;base64,iVBORw0KGgo=)",
        "![x](javascript:alert(1))",
        f"[![logo]({PIXEL})](https://example.org/)",
        f"![x][ref]\n\n[ref]: {PIXEL}",
        f'<img src="{PIXEL}">',
        f"<IMG SRC={PIXEL}>",
    ],
)
def test_no_image_element_ever(source):
    for hard_breaks in (True, False):  # model text and documents (guidelines)
        html = render_markdown(source, hard_breaks=hard_breaks)
        _no_image(html)
        assert_inert(html)


def test_an_image_becomes_a_link_to_its_url_labelled_with_its_alt_text():
    html = render_markdown(f'See ![a chart of "sales"]({PIXEL} "Q3") here.')
    links = [(attrs, i) for i, (tag, attrs) in enumerate(Elements(html).elements) if tag == "a"]
    assert len(links) == 1
    attrs = links[0][0]
    assert attrs["href"] == PIXEL
    assert attrs["title"] == "Q3"
    assert set(attrs["rel"].split()) == {"noopener", "noreferrer"}
    assert 'image: a chart of "sales"' in "".join(Elements(html).text)
    assert "See" in html and "here." in html


def test_without_alt_text_the_label_is_image_and_the_title_is_the_url():
    html = render_markdown(f"![]({PIXEL})")
    (attrs,) = [attrs for tag, attrs in Elements(html).elements if tag == "a"]
    assert attrs["href"] == PIXEL and attrs["title"] == PIXEL
    assert "".join(Elements(html).text).strip() == "image"


def test_an_image_inside_a_link_is_its_label_and_the_link_keeps_its_target():
    html = render_markdown(f"[![logo]({PIXEL})](https://example.org/home) and ![b](https://example.org/b.png)")
    links = [attrs["href"] for tag, attrs in Elements(html).elements if tag == "a"]
    assert links == ["https://example.org/home", "https://example.org/b.png"]
    assert "image: logo" in html and PIXEL not in html


def test_a_javascript_image_keeps_no_href():
    html = render_markdown("![x](javascript:alert(1))")
    (attrs,) = [attrs for tag, attrs in Elements(html).elements if tag == "a"]
    assert "href" not in attrs


def test_image_markdown_in_code_stays_code():
    html = render_markdown(f"`![x]({PIXEL})`")
    assert f"<code>![x]({PIXEL})</code>" in html


def test_annotate_page_model_text_and_prompt(client, project, personas):
    item = make_item(project, kind="thumb", texts=[f"Here is a cat: ![cat]({PIXEL})"])
    item.prompt.messages = [{"role": "user", "content": f"Describe ![this]({PIXEL})"}]
    item.prompt.save()
    project.guidelines = f"Read this: ![diagram]({PIXEL})"
    project.save()
    client.force_login(personas["annotator"])
    html = client.get(reverse("annotate-next", args=[project.slug])).content.decode()
    assert "image: cat" in html and "image: this" in html and "image: diagram" in html
    _no_image(html)
    assert f'href="{PIXEL}"' in html


def test_project_page_guidelines_and_principles(client, project, personas):
    project.guidelines = f"Read this: ![diagram]({PIXEL})"
    project.save()
    project.principles.create(name="helpful", description=f"like ![this]({PIXEL})", position=0)
    client.force_login(personas["researcher"])
    html = client.get(reverse("annotate-project", args=[project.slug])).content.decode()
    assert "image: diagram" in html and "image: this" in html
    _no_image(html)


def test_curation_item_page(client, project, personas):
    item = make_item(project, kind="thumb", texts=[f"![cat]({PIXEL})"])
    client.force_login(personas["curator"])
    html = client.get(reverse("curation:item", args=[project.slug, item.uuid])).content.decode()
    assert "image: cat" in html
    _no_image(html)


def test_synthesized_prompts_on_the_review_page(client, project, personas, settings):
    settings.DOCKET_JOB_HEARTBEAT_SECONDS = 0
    job = job_create(project=project, kind="synthesize", params={"n": 2}, enqueue=False)
    SynthesizedInstruction.objects.bulk_create(
        [
            SynthesizedInstruction(job=job, index=0, text=f"What is in ![x]({PIXEL})?", accepted=True),
            SynthesizedInstruction(job=job, index=1, text=f"![y]({PIXEL}) explain:", accepted=False, reason="x"),
        ]
    )
    client.force_login(personas["curator"])
    html = client.get(reverse("synthesis:review", args=[project.slug, job.uuid])).content.decode()
    assert "image: x" in html and "image: y" in html
    _no_image(html)
