"""The wiki farm setting: id=api-url pairs, and errors that name the variable and the entry."""

from __future__ import annotations

import pytest

from casework.farm import FarmError, Wiki, parse_farm


def test_parse_farm() -> None:
    farm = parse_farm(
        " enwiki=https://en.example.org/w/api.php, de_wiki=http://127.0.0.1:8080/api.php ,"
    )
    assert farm == {
        "enwiki": Wiki("enwiki", "https://en.example.org/w/api.php"),
        "de_wiki": Wiki("de_wiki", "http://127.0.0.1:8080/api.php"),
    }
    assert list(farm) == ["enwiki", "de_wiki"]


def test_a_single_wiki() -> None:
    assert parse_farm("meta-wiki=https://meta.example.org/w/api.php") == {
        "meta-wiki": Wiki("meta-wiki", "https://meta.example.org/w/api.php")
    }


@pytest.mark.parametrize(
    "entry",
    [
        "enwiki",
        "enwiki=",
        "=https://en.example.org/w/api.php",
        "EnWiki=https://en.example.org/w/api.php",
        "en wiki=https://en.example.org/w/api.php",
        "enwiki=https://en.example.org/w/index.php",
        "enwiki=ftp://en.example.org/w/api.php",
        "enwiki:https://en.example.org/w/api.php",
    ],
)
def test_a_bad_entry_is_named(entry: str) -> None:
    text = f"dewiki=https://de.example.org/w/api.php,{entry}"
    with pytest.raises(FarmError) as caught:
        parse_farm(text, variable="ENFORCEMENT_WIKIS")
    message = str(caught.value)
    assert message.startswith("ENFORCEMENT_WIKIS: ")
    assert repr(entry) in message


def test_a_wiki_id_twice() -> None:
    text = "enwiki=https://a.example.org/w/api.php,enwiki=https://b.example.org/w/api.php"
    with pytest.raises(FarmError, match=r"^WIKI_FARM: wiki id 'enwiki' appears twice"):
        parse_farm(text)


@pytest.mark.parametrize("text", ["", " ", ",, ,"])
def test_no_wikis(text: str) -> None:
    with pytest.raises(FarmError, match=r"^NOTIFY_FARM: no wikis configured"):
        parse_farm(text, variable="NOTIFY_FARM")


def test_farm_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="WIKI_FARM"):
        parse_farm("nonsense")
