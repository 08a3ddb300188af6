"""The REST API assembly: mounts every capability's router under ``/api/v1``, renders errors as
RFC 9457 problem JSON and serves the OpenAPI document at ``/api/v1/openapi.json``."""
