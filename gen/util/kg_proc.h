/*
 * kg_proc.h - child processes (gen/util/): splitting a flag string into an argv, and running a
 * program with its output captured (the cc backend's compiler, calibrate's OpenBLAS child).
 */
#ifndef KG_PROC_H
#define KG_PROC_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Split s at spaces, tabs and newlines into a NULL-terminated vector of its words (one malloc'd
 * block holding the pointers and the strings: free the vector only).  s NULL or blank gives an
 * empty vector.  Returns NULL when out of memory.
 */
char **kg_proc_split_args(const char *s);

/**
 * Run argv (no shell; argv[0] is looked up in PATH when it has no '/') with environment envp
 * (NULL: this process's), stdout captured into *output (malloc'd, NUL-terminated; NULL when out
 * of memory), stderr too when merge_stderr (else it is inherited).  Returns the exit status
 * (0 success, 128 + the signal when killed), or -1 when it could not be run (errno set).
 */
int kg_proc_capture(char *const argv[], char *const envp[], bool merge_stderr, char **output);

#ifdef __cplusplus
}
#endif

#endif
