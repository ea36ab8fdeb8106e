"""Reading TwiML in tests the way Twilio does: parse it, never grep it."""

import xml.etree.ElementTree as ET


def parse(text: str | bytes) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == "Response"
    return root


def verbs(root: ET.Element) -> list[str]:
    return [child.tag for child in root]


def spoken(root: ET.Element) -> str:
    return " ".join(" ".join((say.text or "").split()) for say in root.iter("Say"))


def gather(root: ET.Element) -> ET.Element:
    found = root.find("Gather")
    assert found is not None, verbs(root)
    return found


def says(root: ET.Element) -> list[tuple[str, str, str]]:
    """Each <Say> as (language, voice, text), in the order the caller hears them."""
    return [
        (say.get("language", ""), say.get("voice", ""), " ".join(say.text.split()))
        for say in root.iter("Say")
    ]
