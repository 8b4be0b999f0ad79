/*
 * kg_xsmm_module.c - libkg_xsmm.so: Debian's static LIBXSMM (/usr/lib/libxsmm.a, linked whole by
 * CMakeLists.txt) as a module the templates' LIBXSMM baseline dlopens (templates/kg_xsmm.h); its
 * BLAS fallback binds to OpenBLAS.  This file only names the module's version.
 */
#include <libxsmm_version.h>

/** LIBXSMM's version ("1.17"), for diagnostics. */
const char *kg_xsmm_version(void) { return LIBXSMM_CONFIG_VERSION; }
