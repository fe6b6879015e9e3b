/*
 * fuzz_jsonrpc.c - any POST body and any MCP request headers through the MCP core's parsing:
 * JSON-RPC parsing and classification, the era verdict with the 2026-07-28 header-vs-body
 * checks, the Base64 header sentinel, Accept parsing and Origin matching. Nothing may crash
 * or leak, and every answer the transport would build must serialize to one line of JSON.
 *
 * Input: three NUL-terminated header values (MCP-Protocol-Version, Mcp-Method, Mcp-Name; an
 * empty value means the header is absent), then the body. The first header value doubles as
 * an Accept header and an Origin.
 *
 * The fuzz build links only src/core, so the MCP sources are compiled in here directly.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/jsonrpc.h"
#include "mcp/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Serialize value and check it is one line of JSON that parses back. */
static void check_json_line(json_t *value)
{
    if (!value)
        abort();
    char *text = jsonrpc_dump(value);
    if (strchr(text, '\n') || strchr(text, '\r'))
        abort();
    json_error_t error;
    json_t *back = json_loads(text, JSON_REJECT_DUPLICATES, &error);
    if (!back)
        abort();
    json_decref(back);
    free(text);
    json_decref(value);
}

static const char *next_part(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *start = *p;
    const uint8_t *nul = memchr(start, 0, (size_t)(end - start));
    if (!nul)
        return NULL;
    *p = nul + 1;
    return (const char *)start;
}

static void check_message(const struct jsonrpc_message *m)
{
    switch (m->kind) {
    case JSONRPC_REQUEST:
        if (!m->method || !jsonrpc_id_valid(m->id) || (m->params && !json_is_object(m->params)))
            abort();
        break;
    case JSONRPC_NOTIFICATION:
        if (!m->method || m->id)
            abort();
        break;
    case JSONRPC_RESPONSE:
        if (m->method || !jsonrpc_id_valid(m->id))
            abort();
        break;
    case JSONRPC_INVALID:
        if (!m->invalid_reason)
            abort();
        check_json_line(jsonrpc_error_response(m->id, JSONRPC_INVALID_REQUEST, m->invalid_reason, NULL));
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    const char *pv = next_part(&p, end);
    const char *method = pv ? next_part(&p, end) : NULL;
    const char *name = method ? next_part(&p, end) : NULL;
    if (!name)
        return 0;
    struct mcp_request_headers headers = {*pv ? pv : NULL, *method ? method : NULL, *name ? name : NULL};

    char *decoded = NULL;
    if (mcp_header_value_decode(name, &decoded) == GW_OK) {
        if (!decoded)
            abort();
        free(decoded);
    } else if (decoded) {
        abort();
    }
    struct mcp_accept accept;
    mcp_accept_parse(pv, &accept);
    char *origins[] = {"https://good.example", "*"};
    if (!mcp_origin_allowed(pv, origins, 2))
        abort(); /* "*" allows everything */
    (void)mcp_origin_allowed(pv, origins, 1);
    (void)mcp_version_name_is_modern(pv);

    struct jsonrpc_batch batch;
    enum gw_err err = jsonrpc_parse((const char *)p, (size_t)(end - p), &batch, NULL);
    if (err) {
        if (batch.root || batch.count)
            abort();
        return 0;
    }
    if (batch.count == 0 || (!batch.is_array && batch.count != 1))
        abort();
    for (size_t i = 0; i < batch.count; i++)
        check_message(&batch.messages[i]);

    char *names[] = {"2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"};
    struct mcp_versions versions;
    if (mcp_versions_init(&versions, names, 4, "2025-06-18", NULL) != GW_OK)
        abort();
    struct mcp_verdict verdict;
    mcp_classify_post(&batch, &headers, &versions, &verdict);
    if (verdict.route == MCP_ROUTE_REJECT) {
        if (verdict.http_status != 400 || memchr(verdict.message, 0, sizeof(verdict.message)) == NULL)
            abort();
        json_t *data_value = NULL;
        if (verdict.code == MCP_ERROR_UNSUPPORTED_PROTOCOL_VERSION)
            data_value = json_pack("{s:o,s:o}", "supported", mcp_versions_json(&versions), "requested",
                                   jsonrpc_lenient_string(verdict.requested));
        const json_t *id = batch.is_array ? NULL : batch.messages[0].id;
        check_json_line(jsonrpc_error_response(id, verdict.code, verdict.message, data_value));
    } else if (verdict.route == MCP_ROUTE_MODERN) {
        if (batch.is_array || verdict.version < MCP_VERSION_2026_07_28)
            abort();
        /* what the modern path answers an unknown method with */
        const struct jsonrpc_message *m = &batch.messages[0];
        char message[200];
        snprintf(message, sizeof(message), "Method not found: %.128s", m->method ? m->method : "");
        check_json_line(jsonrpc_error_response(m->id, JSONRPC_METHOD_NOT_FOUND, message, NULL));
    }
    jsonrpc_batch_free(&batch);
    return 0;
}
