/*
 * fuzz_acme_outcome.c - any bytes as uacme's stderr (which carries the ACME server's problem
 * document) with each exit status: reading it never crashes, the status follows the exit code,
 * the problem type and detail stay NUL-terminated single lines, and the operator's sentence is
 * built for every outcome.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops/acme_outcome.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_line(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n == cap)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int codes[] = {0, 1, 2, -1};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        struct acme_outcome o;
        acme_outcome_parse((const char *)data, size, codes[i], &o);
        enum acme_status want = codes[i] == 0 ? ACME_ISSUED : codes[i] == 1 ? ACME_CURRENT : ACME_FAILED;
        if (o.status != want || (want == ACME_FAILED) != (o.failure != ACME_FAIL_NONE))
            abort();
        check_line(o.problem_type, sizeof(o.problem_type));
        check_line(o.detail, sizeof(o.detail));
        if (!acme_failure_label(o.failure))
            abort();
        struct buf b;
        buf_init(&b, 1 << 16);
        acme_outcome_explain(&o, "auth.example.com", 8080, &b);
        if (b.len == 0)
            abort();
        buf_free(&b);
    }
    return 0;
}
