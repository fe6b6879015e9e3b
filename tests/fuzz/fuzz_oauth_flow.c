/*
 * fuzz_oauth_flow.c - any bytes through the parsers of `mcpgw test-oauth-flow`
 * (src/ops/oauth_flow_parse.c): as a WWW-Authenticate value, as an HTML page (form controls,
 * form action, error summary) and as an MCP answer in JSON and in SSE framing.
 * Invariants: no crash, leak or read past the input; a summary is at most 300 bytes; a found
 * control value is a NUL-terminated string no longer than the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops/oauth_flow_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so ASan sees any read past the end */
    char *in = malloc(size ? size : 1);
    if (!in)
        return 0;
    memcpy(in, data, size);

    char *v = flow_challenge_param(in, size, "resource_metadata");
    if (v && strlen(v) > size)
        abort();
    free(v);

    static const char *const names[] = {"req", "csrf", "action", "password"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        v = flow_html_control_value(in, size, names[i]);
        if (v && strlen(v) > size)
            abort();
        free(v);
    }
    (void)flow_html_has_control(in, size, "action", "approve");
    v = flow_html_form_action(in, size);
    free(v);
    v = flow_html_summary(in, size);
    if (v && strlen(v) > 300)
        abort();
    free(v);

    json_t *m = flow_jsonrpc_answer("application/json", in, size, 1);
    json_decref(m);
    m = flow_jsonrpc_answer("text/event-stream", in, size, 1);
    json_decref(m);
    free(in);
    return 0;
}
