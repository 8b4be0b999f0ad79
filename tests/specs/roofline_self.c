/* roofline_self.c - test template (tests/test_roofline.c): the kernel IS the runtime's roofline
 * reference (runtime/kg_roofline.h, resolved against the kgen process by the JIT), so its
 * efficiency against the reference measured beside it must be 100% within noise.  The problem's
 * dimensions are the reference's: bound, bytes, threads (and `cold`, which the reference ignores). */

#include "../../templates/kg_abi.h"

const int kg_abi_version = KG_ABI_VERSION;

#ifndef X
#define X 1
#endif

void *kg_roofline_create(const kg_problem *p);
void kg_roofline_run(void *state);
void kg_roofline_destroy(void *state);

void *kg_create(const kg_problem *p) { return kg_roofline_create(p); }
void kg_run(void *state) { kg_roofline_run(state); }
void kg_destroy(void *state) { kg_roofline_destroy(state); }
