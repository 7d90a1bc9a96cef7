"""A bounded schemathesis run against /openapi.json (in `make test`): generated requests
for every operation, with a valid key, must never get a 5xx, and every answer must be
one of the documented status codes with the documented content type and shape. The
pipeline is the fast fake; each operation gets a few examples (well under a minute)."""

from __future__ import annotations

from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, Phase, given  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from sideman.api import create_app  # noqa: E402
from sideman.settings import Settings  # noqa: E402
from sideman.tasks.testing import fake_generate  # noqa: E402

API_KEY = "sm_schemathesis"
EXAMPLES_PER_OPERATION = 12


def api_schema(data_dir: Path):  # noqa: ANN201
    settings = Settings(_env_file=None, data_dir=data_dir, api_key=API_KEY,
                        rate_limit_per_minute=0, submit_rate_limit_per_minute=0,
                        max_upload_bytes=256 * 1024)
    app = create_app(settings, generate=fake_generate)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def operations() -> list:
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        loaded = api_schema(Path(scratch) / "data")
        return [f"{op.ok().method.upper()} {op.ok().path}" for op in loaded.get_all_operations()]


# schemathesis' own pytest plugin does not run under pytest 9, so each operation is
# driven here with hypothesis directly.
@pytest.mark.parametrize("operation_name", operations())
def test_api_conforms_to_its_schema(operation_name: str, tmp_path: Path) -> None:
    loaded = api_schema(tmp_path / "data")
    (operation,) = [op.ok() for op in loaded.get_all_operations()
                    if f"{op.ok().method.upper()} {op.ok().path}" == operation_name]

    @hypothesis_settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None,
                         phases=[Phase.explicit, Phase.generate], database=None,
                         suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def check(case) -> None:  # noqa: ANN001
        case.call_and_validate(
            headers={"Authorization": f"Bearer {API_KEY}"},
            checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                    response_schema_conformance],
        )

    check()
