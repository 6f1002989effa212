"""A fixture repository with planted secrets of many kinds: none may reach training data."""

from __future__ import annotations

from pathlib import Path

from fauxpilot.finetune.dataset import DatasetOptions, build_dataset
from fauxpilot.finetune.scrub import scrub_secrets

# Every value is assembled from pieces so that secret scanners do not flag this file.
A = "a1B2c3D4e5F6g7H8i9J0"
SECRETS = {
    "github": "ghp_" + A + "kLmNoPqRsTuVwX",
    "github_pat": "github_pat_" + A + "_" + A,
    "gitlab": "glpat-" + A + "xyz",
    "slack_bot": "xoxb-" + "123456789012-" + A,
    "slack_app": "xapp-" + "1-A0123-" + A,
    "slack_webhook": "https://hooks.slack.com/services/" + "T0123/B0456/" + A,
    "stripe_live": "sk_live_" + A + "Zz",
    "stripe_restricted": "rk_test_" + A,
    "stripe_webhook": "whsec_" + A + "Qq",
    "openai": "sk-" + A + "T3BlbkFJ" + A,
    "openai_project": "sk-proj-" + A + "-" + A,
    "anthropic": "sk-ant-" + "api03-" + A + A,
    "huggingface": "hf_" + A + "AbCdEfGhIjKlMn",
    "google": "AIza" + "Sy" + A + "abcdefghijklm",
    "google_oauth": "ya29." + A + A,
    "aws_key_id": "AKIA" + "QWERTYUIOPASDFGH",
    "aws_secret": "wJalrXUtnFEMI/" + "K7MDENG/bPxRfiCY" + "RANDOMKEY0123",
    "npm": "npm_" + A + "0123456789abcdef",
    "pypi": "pypi-AgE" + "IcHlwaS5vcmc" + A + A + A,
    "jwt": "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiIxMjM0In0." + "dozjgNryP4J3jVmNHl0w5N_X",
    "bearer": "Zm9vYmFy" + A + "LmJheg",
    "basic": "dXNlcjpz" + "ZWNyZXQxMjM0NTY=",
    "yaml_password": "S3cr3t" + "Yaml!2024",
    "shell_token": "tok" + "en9876543210abc",
    "dotenv_key": "sk" + "ey-3490-8123-abc",
    "compose_password": "p0stgr3s" + "-Pa55word",
    "json_password": "jS0n" + "-pa55-w0rd",
    "url_password": "urlP" + "a55w0rd9",
    "python_secret": "py-s3" + "cret-value-77",
    "toml_token": "t0ml" + "_t0k3n_value_1",
    "random_key": "Q2xpZW50" + "U2VjcmV0" + "Rm9yVGhl" + "QXBwMTIz",
}

FILES = {
    "deploy/hub.py": f'from huggingface_hub import login\nlogin("{SECRETS["huggingface"]}")\n',
    "deploy/client.py": (
        f'headers = {{"Authorization": "Bearer {SECRETS["bearer"]}"}}\n'
        f'basic = "Authorization: Basic {SECRETS["basic"]}"\n'
        f'OPENAI = "{SECRETS["openai"]}"\nPROJECT = "{SECRETS["openai_project"]}"\n'
        f'claude_client = Anthropic(api_key="{SECRETS["anthropic"]}")\n'
        f'key = "{SECRETS["google"]}"\noauth = "{SECRETS["google_oauth"]}"\n'
        f'stripe.api_key = "{SECRETS["stripe_live"]}"\n'
        f'RESTRICTED = "{SECRETS["stripe_restricted"]}"\n'
        f'WEBHOOK_SIGNING = "{SECRETS["stripe_webhook"]}"\n'
        f'SLACK_HOOK = "{SECRETS["slack_webhook"]}"\n'
        f'bot = "{SECRETS["slack_bot"]}"\napp = "{SECRETS["slack_app"]}"\n'
        f'gitlab = "{SECRETS["gitlab"]}"\ngithub = "{SECRETS["github"]}"\n'
        f'pat = "{SECRETS["github_pat"]}"\nsession = "{SECRETS["jwt"]}"\n'
        f'python_secret = "{SECRETS["python_secret"]}"\n'
        f'DEFAULT_SIGNING = "{SECRETS["random_key"]}"\n'
    ),
    "config/app.yaml": (
        f"database:\n  host: db.internal\n  db_password: {SECRETS['yaml_password']}\n"
        f"  url: postgres://app:{SECRETS['url_password']}@db.internal/app\n"
    ),
    "scripts/env.sh": (
        f"#!/bin/sh\nexport API_TOKEN={SECRETS['shell_token']}\n"
        f"export AWS_ACCESS_KEY_ID={SECRETS['aws_key_id']}\n"
        f"export AWS_SECRET_ACCESS_KEY={SECRETS['aws_secret']}\n"
    ),
    "app/.env.example.sh": f"SERVICE_API_KEY={SECRETS['dotenv_key']}\nDEBUG=1\n",
    "docker-compose.yml": (
        "services:\n  db:\n    image: postgres:16\n    environment:\n"
        f"      POSTGRES_PASSWORD: {SECRETS['compose_password']}\n"
        f"      - NPM_TOKEN={SECRETS['npm']}\n"
    ),
    "config/settings.json": f'{{"user": "app", "password": "{SECRETS["json_password"]}"}}\n',
    "config/pypirc.toml": (
        f'[pypi]\npassword = "{SECRETS["pypi"]}"\n[other]\ntoken = "{SECRETS["toml_token"]}"\n'
    ),
}

ORDINARY = """import hashlib
import os

TOKEN_ENV = "GITHUB_TOKEN"
password = os.environ.get("DB_PASSWORD", "")
token = request.headers.get("Authorization")
api_key: str | None = None
SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
IDENTIFIER = "fauxpilot_engine_loaded_successfully"
secret_word_count = compute(secret, password_length)
print("Enter the token you got by e-mail")
"""


def test_no_planted_secret_survives_and_the_report_names_kinds_and_files(tmp_path: Path) -> None:
    assert len(SECRETS) >= 30
    for name, text in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "app/ordinary.py").write_text(ORDINARY)
    options = DatasetOptions(heldout_fraction=0.0)
    dataset = build_dataset(tmp_path, options)
    # Every file is kept (as training text), so no secret is missing for another reason.
    assert sorted(record.path for record in dataset.records) == sorted([*FILES, "app/ordinary.py"])
    output = "".join(record.text for record in dataset.records)
    survivors = [name for name, secret in SECRETS.items() if secret in output]
    assert survivors == []
    assert len(dataset.summary.secrets) >= 15, dataset.summary.secrets
    assert dataset.summary.secrets.total() >= len(SECRETS)
    by_file = dataset.summary.secrets_by_file
    assert by_file["scripts/env.sh"]["config_secret"] == 2
    assert "app/ordinary.py" not in by_file
    assert next(r.text for r in dataset.records if r.path == "app/ordinary.py") == ORDINARY


def test_ordinary_code_is_left_alone() -> None:
    scrubbed = scrub_secrets(ORDINARY)
    assert scrubbed.text == ORDINARY and not scrubbed.counts
