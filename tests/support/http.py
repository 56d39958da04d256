"""JSON over HTTP for the tests that talk to the local servers as a client would: the local tools' own client."""

from local.http_json import request_json

__all__ = ["request_json"]
