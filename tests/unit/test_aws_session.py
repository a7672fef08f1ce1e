"""hokusai.aws.client: one botocore session per process, and no boto3 import (issue 10 cold start)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_clients_share_one_session_and_boto3_is_never_imported() -> None:
    code = (
        "import sys\n"
        "from hokusai import aws\n"
        "dynamodb = aws.client('dynamodb', aws.Budget.deadline(300))\n"
        "s3 = aws.client('s3', aws.MODEL_CACHE, region='eu-central-1')\n"
        "session = aws._session()\n"
        "assert aws._session() is session and session.get_component('data_loader') is not None\n"
        "assert dynamodb.meta.region_name == 'eu-west-1' and s3.meta.region_name == 'eu-central-1'\n"
        "assert dynamodb.meta.config.read_timeout == 0.3\n"
        "assert dynamodb.meta.config.retries['total_max_attempts'] == 1\n"
        "assert s3.meta.config.connect_timeout == 2 and s3.meta.config.retries['total_max_attempts'] == 2\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 's3transfer')))\n"
    )
    environment = {
        "PATH": "/usr/bin:/bin",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
