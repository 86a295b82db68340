"""Property tests of the command parser: what is written is what handlers get."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shoal.commands.parser import ParseError, parse_command, tokenize

words = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12
)
names = st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True)
flag_names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)


def quote(word: str) -> str:
    """Write a word so the parser reads it back exactly, as a positional argument."""
    escaped = word.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


@given(names, st.lists(words, max_size=6))
def test_quoted_positionals_round_trip(name: str, args: list[str]) -> None:
    parsed = parse_command(" ".join([f"/{name}", *map(quote, args)]))
    assert parsed.name == name
    assert parsed.positional == args
    assert parsed.flags == {}


@given(names, st.dictionaries(flag_names, st.one_of(st.just(True), words), max_size=4),
       st.lists(words, max_size=3))
def test_flags_and_positionals_round_trip(
    name: str, flags: dict[str, str | bool], args: list[str]
) -> None:
    parts = [f"/{name}", *map(quote, args)]
    for key, value in flags.items():
        parts.append(f"--{key}" if value is True else f"--{key} {quote(value)}")
    parsed = parse_command(" ".join(parts))
    assert parsed.positional == args
    assert parsed.flags == flags


@given(st.text(max_size=60))
def test_any_text_either_parses_or_says_why(text: str) -> None:
    try:
        tokens = tokenize(text)
    except ParseError as exc:
        assert "quote" in str(exc)
    else:
        for token in tokens:
            assert token.start < token.end <= len(text)


@given(st.lists(st.from_regex(r"[A-Za-z0-9.,:!?-]{1,8}", fullmatch=True), min_size=2,
                max_size=6))
def test_rest_of_line_is_kept_as_typed(args: list[str]) -> None:
    text = "/save key   " + "  ".join(args[1:])
    parsed = parse_command(text)
    assert parsed.rest_after(1) == "  ".join(args[1:])


def test_examples() -> None:
    parsed = parse_command('/deploy web "two words" --env prod --force --tag=v1.2')
    assert parsed.positional == ["web", "two words"]
    assert parsed.flags == {"env": "prod", "force": True, "tag": "v1.2"}
    assert parse_command("/ROLL 2d6").name == "roll"
