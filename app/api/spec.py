"""Declaring an API route once: the same pydantic models validate the request,
shape the response and describe both in the OpenAPI document."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, request
from pydantic import BaseModel, ValidationError

from app.schemas import DB_INT_MAX, ErrorOut


class BadJson(Exception):
    """The body is not JSON at all (400), as opposed to JSON of the wrong shape (422)."""


def parse_body(model: type[BaseModel]) -> BaseModel:
    raw = request.get_data(cache=True) or b""
    try:
        return model.model_validate_json(raw)
    except ValidationError as err:
        if any(e["type"] == "json_invalid" for e in err.errors()):
            raise BadJson("请求体不是合法的 JSON。") from None
        if any(e["type"] == "model_type" and not e["loc"] for e in err.errors()):
            raise BadJson("请求体必须是 JSON 对象。") from None
        raise


def parse_query(model: type[BaseModel]) -> BaseModel:
    return model.model_validate(request.args.to_dict())


class ApiSpec:
    def __init__(self, title: str, version: str, prefix: str) -> None:
        self.title, self.version, self.prefix = title, version, prefix
        self.paths: dict[str, dict[str, Any]] = {}
        self.models: set[type[BaseModel]] = {ErrorOut}

    def route(
        self,
        bp: Blueprint,
        rule: str,
        method: str,
        *,
        summary: str,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        auth: bool = True,
        raw_response: str | tuple[str, ...] | None = None,
        form_file: bool = False,
        many: bool = False,
    ) -> Callable:
        """Register ``view(**path_args, body=?, query=?)``; it returns a model (or list of
        models) for ``response``, or a ready Flask response when ``raw_response`` (the media
        type, or the types, of the file it sends)."""

        def decorate(view: Callable) -> Callable:
            @functools.wraps(view)
            def wrapper(**kwargs):
                if body is not None:
                    kwargs["body"] = parse_body(body)
                if query is not None:
                    kwargs["query"] = parse_query(query)
                result = view(**kwargs)
                if response is None or raw_response:
                    return result
                if isinstance(result, list):
                    payload = [r.model_dump(mode="json") for r in result]
                else:
                    payload = result.model_dump(mode="json")
                return payload, status

            bp.add_url_rule(rule, endpoint=view.__name__, view_func=wrapper, methods=[method])
            self._document(rule, method, summary, body, query, response, status, auth, raw_response, form_file, many)
            return wrapper

        return decorate

    def _document(self, rule, method, summary, body, query, response, status, auth, raw_response, form_file, many):
        path = self.prefix + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)
        op: dict[str, Any] = {"summary": summary, "responses": {}}
        params = [
            {"name": n, "in": "path", "required": True, "schema": _PATH_INT if conv == "int" else {"type": "string"}}
            for conv, n in re.findall(r"<(?:(\w+):)?(\w+)>", rule)
        ]
        if query is not None:
            self.models.add(query)  # its $defs (e.g. State) become components, which its $refs name
            properties = query.model_json_schema(ref_template=_REF)["properties"]
            for name, field in query.model_fields.items():
                params.append(
                    {"name": name, "in": "query", "required": field.is_required(), "schema": properties[name]}
                )
        if params:
            op["parameters"] = params
        if body is not None:
            self.models.add(body)
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
        if form_file:
            op["requestBody"] = {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {"file": {"type": "string", "format": "binary"}},
                            "required": ["file"],
                        }
                    }
                },
            }
        if raw_response:
            types = (raw_response,) if isinstance(raw_response, str) else raw_response
            binary = {"schema": {"type": "string", "format": "binary"}}
            op["responses"][str(status)] = {"description": "file", "content": dict.fromkeys(types, binary)}
        elif response is not None:
            self.models.add(response)
            schema = {"type": "array", "items": _ref(response)} if many else _ref(response)
            op["responses"][str(status)] = {"description": "ok", "content": {"application/json": {"schema": schema}}}
        for code in _error_codes(method, auth, body is not None or form_file):
            op["responses"][str(code)] = {
                "description": ERROR_MEANINGS[code],
                "content": {"application/json": {"schema": _ref(ErrorOut)}},
            }
        if auth:
            op["security"] = [{"bearer": []}]
        self.paths.setdefault(path, {})[method.lower()] = op

    def document(self) -> dict[str, Any]:
        schemas: dict[str, Any] = {}
        for model in sorted(self.models, key=lambda m: m.__name__):
            schema = model.model_json_schema(ref_template=_REF)
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
        return {
            "openapi": "3.1.0",
            "info": {"title": self.title, "version": self.version},
            "paths": self.paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
        }


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


_REF = "#/components/schemas/{model}"
_PATH_INT = {"type": "integer", "minimum": 0, "maximum": DB_INT_MAX}
ERROR_MEANINGS = {
    400: "the body is not JSON, or not a JSON object",
    401: "no valid token (or, at sign-in, a wrong username or password)",
    403: "you can see this but may not do it",
    404: "no such thing, or not one you can see; an id beyond the database range",
    409: "a stale version, or a move the record's state no longer allows",
    413: "the upload or body is too large",
    422: "the request is the wrong shape, out of range or carries control characters",
    429: "too many failed sign-ins",
}


def _error_codes(method: str, auth: bool, has_body: bool) -> list[int]:
    """What a route can answer besides its success: every route 404 and 422 (the path and
    query are checked); signed-in routes 401 and 403; writes 409; bodies 400 and 413; the
    sign-in itself 401 and 429."""
    codes = {404, 422}
    if auth:
        codes |= {401, 403}
    else:
        codes |= {401, 429}
    if method in ("POST", "PUT"):
        codes.add(409)
    if has_body:
        codes |= {400, 413}
    return sorted(codes)
