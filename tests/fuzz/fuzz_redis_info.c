/*
 * fuzz_redis_info.c - any bytes as Redis's INFO answer: parsing never crashes, reads only the
 * given bytes, and an accepted answer has finite, non-negative values only.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/redis_info.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so ASan catches any read past len */
    char *text = malloc(size ? size : 1);
    if (size)
        memcpy(text, data, size);
    struct redis_info info;
    enum gw_err err = redis_info_parse(text, size, &info);
    if (err != GW_OK && err != GW_ERR_PROTOCOL)
        abort();
    const double values[] = {info.used_memory, info.maxmemory, info.connected_clients, info.keys,
                             info.expiring_keys};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        if (!isfinite(values[i]) || values[i] < 0)
            abort();
    if (info.ndbs > size)
        abort();
    free(text);
    return 0;
}
