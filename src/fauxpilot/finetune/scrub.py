"""Remove likely secrets from source text before it becomes training data.

A model trained on a key can repeat it to anyone who types the start of it, so credentials are
replaced by PLACEHOLDER. Each kind has its own pattern; values that are plainly not secrets
(templates, placeholders like "changeme", constants naming a key) stay as they are.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

PLACEHOLDER = "<REDACTED>"

PRIVATE_KEY = "private_key"
AWS_ACCESS_KEY_ID = "aws_access_key_id"
GITHUB_TOKEN = "github_token"
SLACK_TOKEN = "slack_token"
JWT = "jwt"
URL_CREDENTIALS = "url_credentials"
ASSIGNED_SECRET = "assigned_secret"
GITLAB_TOKEN = "gitlab_token"
STRIPE_KEY = "stripe_key"
OPENAI_KEY = "openai_key"
ANTHROPIC_KEY = "anthropic_key"
HUGGINGFACE_TOKEN = "huggingface_token"
GOOGLE_KEY = "google_key"
NPM_TOKEN = "npm_token"
PYPI_TOKEN = "pypi_token"
SLACK_WEBHOOK = "slack_webhook"
AUTH_HEADER = "auth_header"
CONFIG_SECRET = "config_secret"
HIGH_ENTROPY = "high_entropy"

_PRIVATE_KEY_BLOCK = re.compile(
    r"(?P<begin>-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----)"
    r"(?P<body>.*?)"
    r"(?P<end>-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----)",
    re.DOTALL,
)
# Real key material has long base64 lines; two header constants in a PEM parser do not.
_KEY_MATERIAL = re.compile(r"[A-Za-z0-9+/]{40,}")

# Tokens recognisable by their issuer's prefix. Anthropic's before OpenAI's: both start "sk-".
_TOKENS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (AWS_ACCESS_KEY_ID, re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    (GITHUB_TOKEN, re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})")),
    (GITLAB_TOKEN, re.compile(r"\bgl(?:pat|dt|rt|ptt|cbt|oas|soat|ffct|imt)-[A-Za-z0-9_-]{20,}")),
    (SLACK_WEBHOOK, re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,}")),
    (SLACK_TOKEN, re.compile(r"\bx(?:ox[abposr]|app)-[A-Za-z0-9-]{10,}")),
    (STRIPE_KEY, re.compile(r"\b(?:[srp]k_(?:live|test)|whsec)_[A-Za-z0-9]{16,}")),
    (ANTHROPIC_KEY, re.compile(r"\bsk-ant-[A-Za-z0-9]+-[A-Za-z0-9_-]{20,}")),
    (OPENAI_KEY, re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}")),
    (HUGGINGFACE_TOKEN, re.compile(r"\bhf_[A-Za-z0-9]{30,}")),
    (
        GOOGLE_KEY,
        re.compile(
            r"\b(?:AIza[0-9A-Za-z_-]{35}|ya29\.[0-9A-Za-z_-]{20,}|GOCSPX-[A-Za-z0-9_-]{20,})"
        ),
    ),
    (NPM_TOKEN, re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    (PYPI_TOKEN, re.compile(r"\bpypi-AgE[A-Za-z0-9_-]{50,}")),
    (JWT, re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
)
# `Authorization: Bearer ...`, `"Basic dXNlcjpw..."`: the credential after the scheme.
_AUTH_HEADER = re.compile(
    r"(?P<scheme>\b(?:Bearer|Basic|Token|bearer)\s+)(?P<credential>[A-Za-z0-9._~+/=-]{16,})"
)
_SECRET_WORDS = (
    r"(?:password|passwd|secret|token|credentials?|(?:api|access|secret|private)[_-]?key)"
)
# Unquoted values in configuration: `export API_TOKEN=...`, `.env` lines, YAML and compose
# (`db_password: S3cr3t`, `- POSTGRES_PASSWORD=...`).
_CONFIG_SECRET = re.compile(
    r"^(?P<before>[ \t]*(?:-[ \t]+)?(?:export[ \t]+)?"
    r"[\w.-]*" + _SECRET_WORDS + r"[\w.-]*(?:=|:[ \t]+))"
    r"(?P<value>[^\s'\"`#$][^\s#]{7,})[ \t]*(?=#|$)",
    re.IGNORECASE | re.MULTILINE,
)
# A quoted run of base64-like characters with many distinct ones: a key, whatever its name.
_QUOTED_TOKEN = re.compile(r"(?P<quote>[\"'`])(?P<value>[A-Za-z0-9+/=_-]{32,})(?P=quote)")
_MIN_ENTROPY_BITS = 4.3  # per character; hex digests stay below 4.0

# scheme://user:password@host; the password may not contain / @ or quotes or spaces.
_URL_CREDENTIALS = re.compile(
    r"(?P<prefix>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@'\"`]+:)(?P<password>[^\s/@'\"`]+)(?=@)"
)

# `db_password = "..."`, `"apiKey": '...'`, `token := "..."`, `password: str = "..."`:
# a name that ends in a secret word, an assignment, then a quoted literal.
_ASSIGNED_SECRET = re.compile(
    r"(?<![\w.-])(?P<name>[\w.-]*?"
    r"(?:password|passwd|secret|token|(?:api|access|secret|private)[_-]?key))"
    r"(?P<name_quote>[\"']?)"
    r"(?P<assignment>[ \t]*(?::[ \t]*[A-Za-z_][\w.]*[ \t]*)?(?::=|=>|=|:)[ \t]*)"
    r"(?P<quote>[\"'`])(?P<value>(?:\\.|(?!(?P=quote))[^\n\\]){8,})(?P=quote)",
    re.IGNORECASE,
)
_PLACEHOLDER_WORDS = ("changeme", "change_me", "example", "placeholder", "dummy", "redacted")
# "{user_password}", "<token>", "${TOKEN}", "$TOKEN", "%(password)s", "%s".
_TEMPLATE = re.compile(r"[{}<>]|\$\w|%\(|%[sd]")


@dataclass(frozen=True)
class Scrubbed:
    text: str
    counts: Counter[str]  # how many secrets of each kind were replaced


def scrub_secrets(text: str) -> Scrubbed:
    """`text` with likely secrets replaced by PLACEHOLDER, and the count of each kind."""
    counts: Counter[str] = Counter()
    text = _substitute(_PRIVATE_KEY_BLOCK, text, PRIVATE_KEY, counts, _replace_private_key)
    text = _substitute(_URL_CREDENTIALS, text, URL_CREDENTIALS, counts, _replace_url_password)
    for kind, pattern in _TOKENS:
        text = _substitute(pattern, text, kind, counts, lambda match: PLACEHOLDER)
    text = _substitute(_AUTH_HEADER, text, AUTH_HEADER, counts, _replace_credential)
    # After the tokens, so that a token already replaced is not counted a second time.
    text = _substitute(_ASSIGNED_SECRET, text, ASSIGNED_SECRET, counts, _replace_assigned)
    text = _substitute(_CONFIG_SECRET, text, CONFIG_SECRET, counts, _replace_config_value)
    text = _substitute(_QUOTED_TOKEN, text, HIGH_ENTROPY, counts, _replace_random_looking)
    return Scrubbed(text, counts)


def _substitute(
    pattern: re.Pattern[str],
    text: str,
    kind: str,
    counts: Counter[str],
    replace: Callable[[re.Match[str]], str | None],
) -> str:
    """Replace each match by `replace(match)`; None leaves the match as it is, uncounted."""

    def replace_and_count(match: re.Match[str]) -> str:
        replacement = replace(match)
        if replacement is None:
            return match.group(0)
        counts[kind] += 1
        return replacement

    return pattern.sub(replace_and_count, text)


def _replace_private_key(match: re.Match[str]) -> str | None:
    if not _KEY_MATERIAL.search(match["body"]):
        return None
    return f"{match['begin']}\n{PLACEHOLDER}\n{match['end']}"


def _replace_url_password(match: re.Match[str]) -> str | None:
    if _is_placeholder(match["password"]):
        return None
    return match["prefix"] + PLACEHOLDER


def _replace_assigned(match: re.Match[str]) -> str | None:
    value = match["value"]
    if _is_placeholder(value) or _names_itself(match["name"], value):
        return None
    before_value = match.group(0)[: match.start("value") - match.start(0)]
    return f"{before_value}{PLACEHOLDER}{match['quote']}"


def _replace_credential(match: re.Match[str]) -> str | None:
    if _is_placeholder(match["credential"]) or not _has_digit_and_letter(match["credential"]):
        return None
    return match["scheme"] + PLACEHOLDER


def _replace_config_value(match: re.Match[str]) -> str | None:
    value = match["value"]
    looks_like_code = any(mark in value for mark in "()[]{}<>,;") or _is_identifier_path(value)
    if looks_like_code or _is_placeholder(value) or PLACEHOLDER in value:
        return None
    return match["before"] + PLACEHOLDER


def _replace_random_looking(match: re.Match[str]) -> str | None:
    value = match["value"]
    if _entropy_bits(value) < _MIN_ENTROPY_BITS or not _has_digit_and_letter(value):
        return None
    if value.lower() == value or value.upper() == value:  # one case: an identifier, a digest
        return None
    return f"{match['quote']}{PLACEHOLDER}{match['quote']}"


def _entropy_bits(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _has_digit_and_letter(value: str) -> bool:
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def _is_identifier_path(value: str) -> bool:
    """`settings.API_TOKEN`, `get_token`: a name in code, not a value."""
    return all(
        part.isidentifier() and not any(c.isdigit() for c in part) for part in value.split(".")
    )


def _is_placeholder(value: str) -> bool:
    """Templates, references, prose and stand-ins: nothing a leak would expose."""
    lowered = value.lower()
    return (
        any(character.isspace() for character in value)
        or _TEMPLATE.search(value) is not None
        or value.startswith(("/", "./", "~/"))  # a path, such as "/etc/passwd"
        or len(set(lowered)) <= 2  # "xxxxxxxx", "********"
        or lowered in ("password", "secret", "pass")
        or any(word in lowered for word in _PLACEHOLDER_WORDS)
        or lowered.startswith(("your", "my_", "my-"))
    )


def _names_itself(name: str, value: str) -> bool:
    """`API_TOKEN = "api_token"`: a constant holding the name of a field, not a secret."""

    def normalised(text: str) -> str:
        return re.sub(r"[^a-z0-9]", "", text.lower())

    return normalised(name) == normalised(value)
