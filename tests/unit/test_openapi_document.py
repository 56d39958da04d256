"""docs/openapi.yaml: a valid OpenAPI 3.1 document describing exactly the HTTP routes template.yaml declares."""

from __future__ import annotations

from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from local.template import http_routes
from tests.support.openapi import DOCUMENT

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def test_the_document_is_valid_openapi_3_1() -> None:
    spec, _ = read_from_filename(str(DOCUMENT))
    assert spec["openapi"].startswith("3.1")
    validate(spec)  # raises on any violation


def test_it_describes_every_route_of_the_template_and_no_other() -> None:
    spec, _ = read_from_filename(str(DOCUMENT))
    documented = {f"{method.upper()} {path}" for path, item in spec["paths"].items()
                  for method in item if method in HTTP_METHODS}
    assert documented == {route.route_key for route in http_routes()}
