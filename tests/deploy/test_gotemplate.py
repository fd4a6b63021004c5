"""The deploy tests' Go template renderer behaves as text/template with codexctl's functions."""

import pytest
from gotemplate import Context, TemplateError, go_quote, render


def ctx(**env_map: str) -> Context:
    return Context(
        env="ai",
        namespace="proj-dev-3",
        project="proj",
        slot=3,
        versions={"users": "0.1.0"},
        env_map=env_map,
    )


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("a  {{- 1 -}}  \n b", "a1b"),
        ("a {{ 1 }} b", "a 1 b"),
        ("x {{- /* a comment */ -}} y", "xy"),
        ('{{ printf "%s-%d" .Project .Slot }}', "proj-3"),
        ('{{ printf "%q" "a\\"b\\nc" }}', '"a\\"b\\nc"'),
        ('{{ index .Versions "users" }}|{{ index .Versions "nope" }}|', "0.1.0||"),
        ('{{ eq .Env "dev" "ai" }} {{ eq .Env "dev" }}', "true false"),
        ('{{ or "" "x" }} {{ and 1 0 }} {{ and 1 2 }} {{ not "" }}', "x 0 2 true"),
        ('{{ ternary (eq .Env "ai") "ai-staging" .Env }}', "ai-staging"),
        ('{{ trimPrefix "/workspace/codex/envs" "/workspace/" }}', "codex/envs"),
        ('{{ truncSHA "0123456789abcdef0123" }}', "0123456789ab"),
        ('{{ $x := printf "%s/%s" .Project "a" }}{{ $x }}', "proj/a"),
        ('{{ "a" | printf "%s!" }}', "a!"),
        ('{{ default "" "d" }} {{ slug " A_b c" }} {{ toLower "AB" }}', "d a-b-c ab"),
    ],
    ids=[
        "trim-both",
        "no-trim",
        "comment",
        "printf-s-d",
        "printf-q",
        "index-missing-is-zero",
        "eq-any",
        "and-or-return-an-argument",
        "ternary-cond-first",
        "trimPrefix-value-first",
        "truncSHA-12",
        "variables",
        "pipe-last-argument",
        "codexctl-helpers",
    ],
)
def test_renders_as_go(template, expected):
    """Each construct the deploy templates use renders as Go's text/template renders it."""
    assert render(template, ctx()) == expected


def test_env_or_treats_an_empty_variable_as_unset():
    """envOr falls back when the variable is missing or empty, as codexctl's funcEnvOr."""
    template = '{{ envOr "A" "d" }} {{ envOr "B" "d" }} {{ envOr "C" "d" }}'
    assert render(template, ctx(A="set", B="")) == "set d d"


def test_a_trailing_trim_glues_the_next_line_into_a_comment():
    """`-}}` eats the newline: why services.yaml's variable lines end in a plain `}}`."""
    assert render('# {{- $x := "v" -}}\nproject: p\n', ctx()) == "#project: p\n"
    assert render('# {{ $x := "v" }}\nproject: p\n', ctx()) == "# \nproject: p\n"


@pytest.mark.parametrize(
    "template",
    [
        "{{ if true }}x{{ end }}",
        "{{ nosuch 1 }}",
        "{{ .NoSuchField }}",
        "{{ $undefined }}",
        '{{ ternary "yes" 1 2 }}',
        '{{ eq "1" 1 }}',
        '{{ printf "%d" "s" }}',
    ],
    ids=["control", "function", "field", "variable", "ternary-non-bool", "eq-types", "printf-verb"],
)
def test_refuses_what_go_or_the_subset_refuses(template):
    """A template outside the subset, or one Go would fail on, raises instead of rendering."""
    with pytest.raises(TemplateError):
        render(template, ctx())


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("plain", '"plain"'),
        ('q"\\', '"q\\"\\\\"'),
        ("tab\there", '"tab\\there"'),
        ("\x01", '"\\x01"'),
        ("é", '"é"'),
    ],
    ids=["plain", "quote-backslash", "tab", "control", "unicode"],
)
def test_go_quote_is_strconv_quote(value, quoted):
    """%q quotes as strconv.Quote: the escapes are also YAML double-quote escapes."""
    assert go_quote(value) == quoted
