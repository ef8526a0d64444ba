/*
 * What every fuzz target shares: FUZZ_CHECK (an invariant that aborts, so
 * libFuzzer keeps the input) and, with -DFUZZ_STANDALONE (no libFuzzer), a
 * main() that runs LLVMFuzzerTestOneInput on each file named on the command
 * line, so CI can replay a corpus with gcc.
 */
#ifndef SOCKETIFY_FUZZ_COMMON_H
#define SOCKETIFY_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                          \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                       \
            abort();                                                              \
        }                                                                         \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifdef FUZZ_STANDALONE
int main(int argc, char **argv)
{
    int i;
    for (i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        uint8_t *data;
        long n;
        if (!f) {
            perror(argv[i]);
            return 1;
        }
        if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
            fclose(f);
            return 1;
        }
        data = malloc(n ? (size_t)n : 1);
        if (!data || fread(data, 1, (size_t)n, f) != (size_t)n) {
            fclose(f);
            return 1;
        }
        fclose(f);
        LLVMFuzzerTestOneInput(data, (size_t)n);
        free(data);
    }
    printf("ran %d input(s)\n", argc - 1);
    return 0;
}
#endif /* FUZZ_STANDALONE */

#endif
