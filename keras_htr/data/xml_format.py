"""Safe XML parsing and format detection for PAGE and ALTO files.

Parsed with defusedxml: entity declarations (billion laughs), external entities (XXE) and
DTDs are refused, never resolved.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from typing import Optional

import defusedxml
import defusedxml.ElementTree as SafeET

PAGE_NAMESPACES = (
    "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15",
    "http://schema.primaresearch.org/PAGE/gts/pagecontent/2013-07-15",
    "http://schema.primaresearch.org/PAGE/gts/pagecontent/2010-03-19",
)
ALTO_NAMESPACE_PREFIX = "http://www.loc.gov/standards/alto/"


def parse_xml(path: os.PathLike) -> ET.Element:
    """The root element of an XML file; raises ValueError with a short reason if unusable."""
    try:
        return SafeET.parse(os.fspath(path), forbid_dtd=True).getroot()
    except defusedxml.DefusedXmlException as e:
        raise ValueError(f"refused unsafe XML ({type(e).__name__}: DTDs and entities are not allowed)") from None
    except ET.ParseError as e:
        raise ValueError(f"unreadable XML ({e})") from None
    except OSError as e:
        raise ValueError(f"cannot read file ({e.strerror or e})") from None


def namespace(element: ET.Element) -> str:
    tag = element.tag
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def xml_kind(root: ET.Element) -> Optional[str]:
    """'page', 'alto' or None (some other XML) from the root element's namespace."""
    ns = namespace(root)
    local = root.tag.rsplit("}", 1)[-1]
    if local == "PcGts" and (ns in PAGE_NAMESPACES or "primaresearch.org/PAGE" in ns):
        return "page"
    if local == "alto" and (ns.startswith(ALTO_NAMESPACE_PREFIX) or ns == ""):
        return "alto"
    return None
