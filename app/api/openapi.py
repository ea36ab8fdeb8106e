"""The OpenAPI 3.1 description of the JSON API, served at /api/openapi.json.

Tests validate real responses against these schemas, so the document cannot
drift from what the API does.
"""

from typing import Any

from app.models.tickets import TicketStatus
from app.sla import PRIORITIES

STATUSES = [status.value for status in TicketStatus]
NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_DATE_TIME = {"type": ["string", "null"], "format": "date-time"}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
        },
    }


def _json(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}
        },
    }


AUTH_ERRORS = {
    "401": _error("No credential, or a bad one"),
    "403": _error("Authenticated, without the right"),
}
REFERENCE = {
    "name": "reference",
    "in": "path",
    "required": True,
    "description": "Eight digits with a Luhn check digit, with or without the dash",
    "schema": {"type": "string", "examples": ["1234-5674"]},
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                },
            }
        },
    },
    "Ticket": {
        "type": "object",
        "required": [
            "reference",
            "status",
            "category",
            "channel",
            "phone",
            "line",
            "created_at",
            "updated_at",
            "assignee",
            "priority",
            "escalation_level",
            "sla",
        ],
        "properties": {
            "reference": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{4}$"},
            "status": {"type": "string", "enum": STATUSES},
            "kind": {"type": "string", "enum": ["complaint", "request", "callback"]},
            "category": NULLABLE_STRING,
            "channel": {
                "type": "string",
                "enum": ["phone", "sms", "web", "counter", "email"],
            },
            "phone": {
                "type": ["string", "null"],
                "description": "E.164; null if withheld",
            },
            "line": {
                "type": ["string", "null"],
                "description": "the line's E.164 number",
            },
            "language": {"type": "string", "enum": ["fr", "en"]},
            "description": NULLABLE_STRING,
            "assignee": {"type": ["string", "null"], "description": "staff e-mail"},
            "service": {"type": ["string", "null"], "description": "service key"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "priority": {"type": "string", "enum": list(PRIORITIES)},
            "appeal": {"type": "boolean", "description": "reopened on an objection"},
            "escalation_level": {"type": "integer", "enum": [0, 1, 2]},
            "hold": {"type": "boolean", "description": "legal hold: no erasure"},
            "sla": {
                "type": "object",
                "required": [
                    "plan",
                    "take_charge_due",
                    "resolve_due",
                    "take_charge_met",
                    "resolve_met",
                    "paused",
                ],
                "properties": {
                    "plan": NULLABLE_STRING,
                    "take_charge_due": NULLABLE_DATE_TIME,
                    "resolve_due": NULLABLE_DATE_TIME,
                    "take_charge_met": {"type": ["boolean", "null"]},
                    "resolve_met": {"type": ["boolean", "null"]},
                    "paused": {"type": "boolean"},
                },
            },
        },
    },
    "Event": {
        "type": "object",
        "required": ["at", "actor", "action", "detail"],
        "properties": {
            "at": {"type": "string", "format": "date-time"},
            "actor": {"type": "string"},
            "action": {"type": "string"},
            "detail": {"type": "object"},
        },
    },
    "Call": {
        "type": "object",
        "required": ["call_sid", "status", "line", "started_at", "duration"],
        "properties": {
            "call_sid": {"type": "string"},
            "status": {"type": "string"},
            "from": {"type": "string"},
            "line": {"type": "string"},
            "direction": {"type": "string"},
            "started_at": {"type": "string", "format": "date-time"},
            "ended_at": {"type": ["string", "null"], "format": "date-time"},
            "duration": {"type": ["integer", "null"]},
        },
    },
    "Recording": {
        "type": "object",
        "required": ["id", "recording_sid", "duration", "status"],
        "properties": {
            "id": {"type": "integer"},
            "recording_sid": {"type": "string"},
            "call_sid": NULLABLE_STRING,
            "purpose": {"type": "string"},
            "duration": {"type": ["integer", "null"]},
            "status": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "Message": {
        "type": "object",
        "required": ["message_sid", "direction", "status", "body"],
        "properties": {
            "id": {"type": "integer"},
            "message_sid": NULLABLE_STRING,
            "direction": {"type": "string", "enum": ["inbound", "outbound"]},
            "status": {"type": "string"},
            "to": {"type": "string"},
            "body": {"type": "string"},
            "error_code": NULLABLE_STRING,
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "TicketDetail": {
        "allOf": [
            {"$ref": "#/components/schemas/Ticket"},
            {
                "type": "object",
                "required": ["events", "calls", "recordings", "messages"],
                "properties": {
                    "events": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/Event"},
                    },
                    "calls": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/Call"},
                    },
                    "recordings": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/Recording"},
                    },
                    "messages": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/Message"},
                    },
                },
            },
        ]
    },
    "TicketList": {
        "type": "object",
        "required": ["tickets"],
        "properties": {
            "tickets": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/Ticket"},
            },
            "next": {
                "type": ["string", "null"],
                "description": "`cursor` of the next page; null on the last",
            },
        },
    },
    "NewTicket": {
        "type": "object",
        "required": ["phone", "channel", "category"],
        "additionalProperties": False,
        "properties": {
            "phone": {
                "type": "string",
                "description": "any format; DEFAULT_REGION applies",
            },
            "channel": {"type": "string", "enum": ["web", "counter", "email", "phone"]},
            "category": {"type": "string"},
            "description": {"type": "string", "maxLength": 5000},
            "line": {"type": "string", "description": "one of the centre's lines"},
            "language": {"type": "string", "enum": ["fr", "en"]},
        },
    },
    "TicketChange": {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,
        "properties": {
            "status": {"type": "string", "enum": STATUSES},
            "priority": {"type": "string", "enum": list(PRIORITIES)},
            "hold": {"type": "boolean", "description": "supervisors and admins"},
            "assignee": {"type": ["string", "null"], "description": "staff e-mail"},
            "category": {"type": "string"},
            "service": {"type": ["string", "null"], "description": "service key"},
            "resolution": {
                "type": "string",
                "minLength": 1,
                "maxLength": 2000,
                "description": "the answer sent to the caller; resolves the ticket",
            },
            "note": {
                "oneOf": [
                    {"type": "string", "maxLength": 2000},
                    {
                        "type": "object",
                        "required": ["text"],
                        "additionalProperties": False,
                        "properties": {
                            "text": {"type": "string", "maxLength": 2000},
                            "visibility": {
                                "type": "string",
                                "enum": ["internal", "public"],
                            },
                        },
                    },
                ],
                "description": "internal (staff only) unless visibility is public",
            },
        },
    },
    "History": {
        "type": "object",
        "required": ["caller", "tickets", "calls", "messages"],
        "properties": {
            "caller": {
                "type": "object",
                "required": ["phone"],
                "properties": {
                    "phone": {"type": "string"},
                    "name": NULLABLE_STRING,
                    "language": NULLABLE_STRING,
                },
            },
            "tickets": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/Ticket"},
            },
            "calls": {"type": "array", "items": {"$ref": "#/components/schemas/Call"}},
            "messages": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/Message"},
            },
        },
    },
}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


PATHS: dict[str, Any] = {
    "/api/tickets": {
        "get": {
            "summary": "Tickets, newest first",
            "parameters": [
                _query("phone", "caller's number, any format"),
                _query("status", "ticket status", {"type": "string", "enum": STATUSES}),
                _query("line", "the line's number"),
                _query("category", "category key"),
                _query("limit", "at most this many (1-500)", {"type": "integer"}),
                _query("cursor", "the `next` of the previous page"),
                {
                    **_query(
                        "offset",
                        "skip this many (slow on deep pages: use cursor)",
                        {"type": "integer"},
                    ),
                    "deprecated": True,
                },
            ],
            "responses": {
                "200": _json("TicketList", "The tickets"),
                "400": _error("A bad filter or cursor"),
                **AUTH_ERRORS,
            },
        },
        "post": {
            "summary": "A ticket from another channel (web, counter, e-mail, phone)",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/NewTicket"}
                    }
                },
            },
            "responses": {
                "201": _json(
                    "TicketDetail", "The new ticket; its SMS acknowledgment is queued"
                ),
                "400": _error("A missing or invalid field"),
                "413": _error("The body is too large"),
                **AUTH_ERRORS,
            },
        },
    },
    "/api/tickets/{reference}": {
        "parameters": [REFERENCE],
        "get": {
            "summary": "One ticket with its events, calls, recordings and messages",
            "responses": {
                "200": _json("TicketDetail", "The ticket"),
                "400": _error("Not a valid reference (format or check digit)"),
                "404": _error("No such ticket"),
                **AUTH_ERRORS,
            },
        },
        "patch": {
            "summary": "Change status, assignee or category, or add a note",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/TicketChange"}
                    }
                },
            },
            "responses": {
                "200": _json("TicketDetail", "The changed ticket"),
                "400": _error("A missing or invalid field"),
                "404": _error("No such ticket"),
                "409": _error("The status change is not allowed (a closed ticket)"),
                **AUTH_ERRORS,
            },
        },
    },
    "/api/callers/{phone}/history": {
        "parameters": [
            {
                "name": "phone",
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
            }
        ],
        "get": {
            "summary": "The screen-pop: everything the centre knows about a caller",
            "responses": {
                "200": _json(
                    "History", "The caller's history (empty for a new caller)"
                ),
                "400": _error("Not a phone number"),
                **AUTH_ERRORS,
            },
        },
    },
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Écoute API",
            "version": "1",
            "description": "Tickets and caller history of an Écoute call centre.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
        },
    }
