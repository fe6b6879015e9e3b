/*
 * fuzz_http_request - the HTTP request path: raw bytes from a client through the connection
 * layer (llhttp, limits, header assembly, pipelining, responses). Any crash, leak or sanitizer
 * report is a bug; every response must start with a status line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/http_harness.h"
#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct http_harness h;
    static int ready;
    if (!ready) {
        log_init("fuzz", NULL, LOG_ERROR);
        http_harness_init(&h, 4096, 8192);
        ready = 1;
    }
    struct buf out = http_harness_exchange(&h, data, size);
    if (out.len && strncmp(buf_cstr(&out), "HTTP/1.", 7) != 0 &&
        strncmp(buf_cstr(&out), "HTTP/1.1 100", 12) != 0)
        abort();
    buf_free(&out);
    return 0;
}
