/*
 * kg_ship.h - `kgen ship`: write the tuned kernels as a self-contained CMake project (a C
 * library with a public header, dispatch by machine and shape, a CMake package and kgen.pc).
 *
 * For each spec whose template has a front (templates/<name>.front.c: the public entry points
 * that check a call and ask the dispatch for a variant) and a public header fragment
 * (templates/<name>.api.h), the project holds: one source per distinct variant (the winners of
 * every machine in the tuned directory and their close runners-up: within 3% of the winner's
 * p50 or tied with it; de-duplicated by parameters and ISA), each expanded by the template
 * expander with its own KG_NAME prefix and the ISA flags of the machine it won on; the
 * kernel's generalist built for AVX2 and for baseline x86-64 (the fallbacks); generated
 * dispatch tables (src/kgen_tables.c); the dispatch runtime (gen/ship/runtime/); and
 * CMakeLists.txt, cmake/kgenConfig.cmake.in, kgen.pc.in.  Everything is sorted and carries
 * no timestamp: the same inputs give the same bytes.
 */
#ifndef KG_SHIP_H
#define KG_SHIP_H

/** The `kgen ship [SPEC...] [--tuned DIR] --out DIR` command: 0, 1 (work failed), 2 (usage). */
int kg_cli_ship(int argc, char **argv);

#endif
