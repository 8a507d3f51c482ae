"""The sink's retry policy, fed with bodies Elasticsearch 8.19 really returns."""
from __future__ import annotations

from elastic_transport import ApiResponseMeta, ConnectionError, HttpHeaders, NodeConfig
from elasticsearch import ApiError

from collector.retry_policy import (
    Verdict,
    classify_exception,
    classify_item,
    classify_response,
)

# A bulk response captured from Elasticsearch 8.19.21: created, duplicate create, two mapping errors.
BULK_MIXED = {
    "errors": True, "took": 0,
    "items": [
        {"create": {"_index": "fixture-cap", "_id": "a", "_version": 1, "result": "created",
                    "_shards": {"total": 2, "successful": 1, "failed": 0}, "_seq_no": 0, "_primary_term": 1,
                    "status": 201}},
        {"create": {"_index": "fixture-cap", "_id": "a", "status": 409,
                    "error": {"type": "version_conflict_engine_exception",
                              "reason": "[a]: version conflict, document already exists (current version [1])",
                              "index_uuid": "nC7o_3sNTZypE4P4ulrLkg", "shard": "0", "index": "fixture-cap"}}},
        {"create": {"_index": "fixture-cap", "_id": "b", "status": 400,
                    "error": {"type": "document_parsing_exception",
                              "reason": "[1:6] failed to parse field [n] of type [long] in document with id 'b'. "
                                        "Preview of field's value: 'not-a-number'",
                              "caused_by": {"type": "illegal_argument_exception",
                                            "reason": "For input string: \"not-a-number\""}}}},
        {"create": {"_index": "fixture-cap", "_id": "c", "status": 400,
                    "error": {"type": "document_parsing_exception",
                              "reason": "[1:17] failed to parse field [n] of type [long] in document with id 'c'. "
                                        "Preview of field's value: '{nested=1}'",
                              "caused_by": {"type": "illegal_argument_exception",
                                            "reason": "Cannot parse object as number"}}}},
    ],
}

# Item-level rejection when the write thread pool is full (Elasticsearch answers 429 per item).
ITEM_REJECTED = {"create": {"_index": "oam-logs-2026.11.24", "_id": "x", "status": 429,
                            "error": {"type": "es_rejected_execution_exception",
                                      "reason": "rejected execution of coordinating operation "
                                                "[coordinating_and_primary_bytes=0, "
                                                "max_coordinating_and_primary_bytes=1073741824]"}}}

# Captured from 8.19.21: a bulk into a closed index.
ITEM_INDEX_CLOSED = {"create": {"_index": "fixture-cap", "_id": "d", "status": 400,
                                "error": {"type": "index_closed_exception", "reason": "closed",
                                          "index_uuid": "nC7o_3sNTZypE4P4ulrLkg", "index": "fixture-cap"}}}

ITEM_UNAVAILABLE = {"create": {"_index": "oam-logs-2026.11.24", "_id": "y", "status": 503,
                               "error": {"type": "unavailable_shards_exception",
                                         "reason": "[oam-logs-2026.11.24][0] primary shard is not active "
                                                   "Timeout: [1m]"}}}

# Whole-request answers captured from 8.19.21: security on with a wrong password, and a malformed body.
_WWW_AUTHENTICATE = {"WWW-Authenticate": ["Basic realm=\"security\", charset=\"UTF-8\"", "ApiKey"]}
_AUTH_REASON = "unable to authenticate user [oam-admin] for REST request [/_bulk]"
AUTH_FAILED_BODY = {"error": {"root_cause": [{"type": "security_exception", "reason": _AUTH_REASON,
                                              "header": _WWW_AUTHENTICATE}],
                              "type": "security_exception", "reason": _AUTH_REASON, "header": _WWW_AUTHENTICATE},
                    "status": 401}
_PARSE_REASON = ("[1:2] Unexpected character ('b' (code 98)): was expecting double-quote to start field name\n"
                 " at [Source: (byte[])\"{bad json\"; line: 1, column: 2]")
PARSE_ERROR_BODY = {"error": {"root_cause": [{"type": "x_content_parse_exception", "reason": _PARSE_REASON}],
                              "type": "x_content_parse_exception", "reason": _PARSE_REASON,
                              "caused_by": {"type": "json_parse_exception", "reason": _PARSE_REASON[6:]}},
                    "status": 400}


def _api_error(status: int, body: dict) -> ApiError:
    meta = ApiResponseMeta(status=status, http_version="1.1", headers=HttpHeaders(), duration=0.01,
                           node=NodeConfig("http", "127.0.0.1", 9200))
    return ApiError(message=body["error"]["type"], meta=meta, body=body)


def test_created_and_duplicate_create_are_delivered_mapping_errors_dead_lettered() -> None:
    verdicts = [decision.verdict for decision in classify_response(BULK_MIXED)]
    assert verdicts == [Verdict.DELIVERED, Verdict.DELIVERED, Verdict.DEAD_LETTER, Verdict.DEAD_LETTER]


def test_dead_letter_reason_names_the_error_and_its_cause() -> None:
    reason = classify_response(BULK_MIXED)[2].reason
    assert reason.startswith("document_parsing_exception: [1:6] failed to parse field [n]")
    assert "caused by illegal_argument_exception" in reason


def test_rejected_execution_and_unavailable_shards_are_retried() -> None:
    assert classify_item(ITEM_REJECTED).verdict is Verdict.RETRY
    assert "es_rejected_execution_exception" in classify_item(ITEM_REJECTED).reason
    assert classify_item(ITEM_UNAVAILABLE).verdict is Verdict.RETRY


def test_closed_index_is_not_retried_forever() -> None:
    assert classify_item(ITEM_INDEX_CLOSED).verdict is Verdict.DEAD_LETTER


def test_no_answer_at_all_is_retried() -> None:
    decision = classify_exception(ConnectionError("Connection refused"))
    assert decision.verdict is Verdict.RETRY
    assert "Connection refused" in decision.reason


def test_whole_request_errors() -> None:
    assert classify_exception(_api_error(401, AUTH_FAILED_BODY)).verdict is Verdict.RETRY  # keep data, fix creds
    assert classify_exception(_api_error(429, {"error": {"type": "es_rejected_execution_exception",
                                                         "reason": "rejected"}})).verdict is Verdict.RETRY
    assert classify_exception(_api_error(503, {"error": {"type": "cluster_block_exception",
                                                         "reason": "blocked"}})).verdict is Verdict.RETRY
    parse = classify_exception(_api_error(400, PARSE_ERROR_BODY))
    assert parse.verdict is Verdict.DEAD_LETTER
    assert parse.reason.startswith("x_content_parse_exception")

