/*
 * kg_jit.cpp - the JIT backend: Clang 16 as a library (EmitLLVMOnlyAction on an in-memory
 * file) feeding an ORC LLJIT.  The only C++ in kgen; everything else sees kg_jit.h.
 *
 * Facts this file is built around (measured with LLVM 16 on the target machine):
 *  - the driver runs once, at kg_jit_new, to turn our flags into cc1 arguments; each compile
 *    re-parses those into a fresh CompilerInvocation (cheap) and overrides input, target and PCH;
 *  - a prelude PCH of the common headers cuts a small variant from ~140 ms to ~30 ms;
 *  - ConcurrentIRCompiler (the default compiler is not safe with two compiling threads);
 *  - one JITDylib per module, released by ResourceTracker::remove and removeJITDylib
 *    (either alone leaks);
 *  - DisableFree cleared (the driver's -disable-free leaks ~1 MB per compile), an LLVMContext
 *    diagnostic handler installed (the default one exits), Clang diagnostics into a string.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include <clang/Basic/Diagnostic.h>
#include <clang/Basic/DiagnosticOptions.h>
#include <clang/CodeGen/CodeGenAction.h>
#include <clang/Frontend/CompilerInstance.h>
#include <clang/Frontend/CompilerInvocation.h>
#include <clang/Frontend/FrontendActions.h>
#include <clang/Frontend/TextDiagnosticPrinter.h>
#include <clang/Frontend/Utils.h>
#include <clang/Lex/PreprocessorOptions.h>
#include <llvm/ADT/StringMap.h>
#include <llvm/ExecutionEngine/Orc/CompileUtils.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/DiagnosticInfo.h>
#include <llvm/IR/DiagnosticPrinter.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/VirtualFileSystem.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Support/xxhash.h>
#include <llvm/TargetParser/Host.h>

#include "kg_jit.h"

#include "kg_file.h"
#include "kg_proc.h"

#ifndef KG_CLANG_PATH
#define KG_CLANG_PATH "/usr/lib/llvm-16/bin/clang"
#endif
#ifndef KG_CLANG_VERSION
#define KG_CLANG_VERSION "16"
#endif

using namespace llvm;

/* The headers generated code is most likely to include; immintrin.h alone is ~110 ms to parse. */
static const char kPrelude[] = "/* kgen prelude: precompiled once per machine and flags */\n"
                               "#include <stddef.h>\n"
                               "#include <stdint.h>\n"
                               "#include <stdlib.h>\n"
                               "#include <string.h>\n"
                               "#include <stdio.h>\n"
                               "#include <math.h>\n"
                               "#include <immintrin.h>\n"
                               "#include <omp.h>\n";

/* The in-memory path of every variant; its #line banner gives diagnostics the variant's name. */
static const char kInputPath[] = "/kgen-jit/variant.c";

struct kg_jit {
  std::unique_ptr<orc::LLJIT> jit;
  std::string cpu;
  std::vector<std::string> features; /* "+avx2", "-amx-tile", ... (all of the host's) */
  std::vector<std::string> driver_flags;
  std::vector<std::string> cc1_args; /* for compiling kInputPath, from the driver */
  std::string pch;                   /* empty: no prelude */
  std::string describe;
  std::atomic<unsigned long> next_id{0};
};

struct kg_jit_module {
  kg_jit *j;
  orc::JITDylib *jd;
  orc::ResourceTrackerSP rt;
  std::unordered_set<std::string> syms; /* defined, external: what kg_jit_sym may return */
};

/* ORC reports materialization failures (an unresolved symbol) out of band; keep them for the
   compile that triggered them, which runs on the same thread (no compile threads). */
static thread_local std::string t_session_errors;

/* Collects LLVM-level diagnostics (backend, inline asm) instead of the default exit(1). */
namespace {
struct DiagCollector : DiagnosticHandler {
  std::string *out;
  explicit DiagCollector(std::string *o) : out(o) {}
  bool handleDiagnostics(const DiagnosticInfo &DI) override {
    if (DI.getSeverity() == DS_Error || DI.getSeverity() == DS_Warning) {
      raw_string_ostream os(*out);
      DiagnosticPrinterRawOStream dp(os);
      os << (DI.getSeverity() == DS_Error ? "error: " : "warning: ");
      DI.print(dp);
      os << "\n";
    }
    return true;
  }
};
} // namespace

static char *dup_cstr(const std::string &s) {
  char *p = static_cast<char *>(malloc(s.size() + 1));
  if (p) memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

static void init_llvm_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    InitializeNativeTarget();
    InitializeNativeTargetAsmPrinter();
    InitializeNativeTargetAsmParser();
  });
}

/* Run the driver on `args` (argv[0] = absolute clang path so the resource dir resolves) and
   return its cc1 arguments; driver diagnostics go to *err. */
static bool driver_cc1_args(const std::vector<std::string> &args, std::vector<std::string> *cc1, std::string *err) {
  std::vector<const char *> argv;
  for (auto &a : args) argv.push_back(a.c_str());
  raw_string_ostream os(*err);
  IntrusiveRefCntPtr<clang::DiagnosticOptions> dopts = new clang::DiagnosticOptions();
  auto *printer = new clang::TextDiagnosticPrinter(os, dopts.get());
  IntrusiveRefCntPtr<clang::DiagnosticsEngine> diags =
      clang::CompilerInstance::createDiagnostics(dopts.get(), printer, true);
  /* The driver checks that inputs exist: give it the in-memory variant path. */
  auto mem = makeIntrusiveRefCnt<vfs::InMemoryFileSystem>();
  mem->addFile(kInputPath, 0, MemoryBuffer::getMemBuffer(""));
  auto ov = makeIntrusiveRefCnt<vfs::OverlayFileSystem>(vfs::getRealFileSystem());
  ov->pushOverlay(mem);
  clang::CreateInvocationOptions o;
  o.Diags = diags;
  o.VFS = ov;
  o.CC1Args = cc1;
  o.RecoverOnError = false;
  std::unique_ptr<clang::CompilerInvocation> inv = clang::createInvocation(argv, o);
  os.flush();
  return inv != nullptr && !cc1->empty();
}

/* A CompilerInvocation from cached cc1 args, with our target, no leaks, no colours. */
static std::shared_ptr<clang::CompilerInvocation> make_invocation(const kg_jit *j, const std::vector<std::string> &cc1,
                                                                  clang::DiagnosticsEngine &d) {
  std::vector<const char *> argv;
  for (auto &a : cc1) argv.push_back(a.c_str());
  auto inv = std::make_shared<clang::CompilerInvocation>();
  if (!clang::CompilerInvocation::CreateFromArgs(*inv, argv, d, KG_CLANG_PATH)) return nullptr;
  inv->getTargetOpts().CPU = j->cpu;
  inv->getTargetOpts().TuneCPU = "generic";
  inv->getTargetOpts().FeaturesAsWritten = j->features;
  inv->getFrontendOpts().DisableFree = false;
  inv->getCodeGenOpts().DisableFree = false;
  inv->getDiagnosticOpts().ShowColors = false;
  return inv;
}

/*
 * Frontend: `src` -> optimised IR module in `ctx`.  Diagnostics (with the summary line) land in
 * *diag.  A non-empty `pch` is included first (-include-pch).
 */
static std::unique_ptr<Module> run_frontend(const kg_jit *j, const char *src, LLVMContext *ctx, const std::string &pch,
                                            std::string *diag, bool *ok) {
  *ok = false;
  raw_string_ostream os(*diag);
  auto ci = std::make_unique<clang::CompilerInstance>();
  {
    /* Parse errors in the cached args go to the same string. */
    IntrusiveRefCntPtr<clang::DiagnosticOptions> dopts = new clang::DiagnosticOptions();
    auto *printer = new clang::TextDiagnosticPrinter(os, dopts.get());
    IntrusiveRefCntPtr<clang::DiagnosticsEngine> d =
        clang::CompilerInstance::createDiagnostics(dopts.get(), printer, true);
    auto inv = make_invocation(j, j->cc1_args, *d);
    if (!inv) return nullptr;
    ci->setInvocation(std::move(inv));
  }
  ci->getFrontendOpts().Inputs.clear();
  ci->getFrontendOpts().Inputs.emplace_back(kInputPath, clang::InputKind(clang::Language::C));
  ci->getPreprocessorOpts().ImplicitPCHInclude = pch;
  ci->createDiagnostics(new clang::TextDiagnosticPrinter(os, &ci->getDiagnosticOpts()), true);
  ci->setVerboseOutputStream(os);
  auto mem = makeIntrusiveRefCnt<vfs::InMemoryFileSystem>();
  mem->addFile(kInputPath, 0, MemoryBuffer::getMemBuffer(src, kInputPath));
  auto ov = makeIntrusiveRefCnt<vfs::OverlayFileSystem>(vfs::getRealFileSystem());
  ov->pushOverlay(mem);
  ci->createFileManager(ov);

  clang::EmitLLVMOnlyAction act(ctx);
  bool done = ci->ExecuteAction(act);
  std::unique_ptr<Module> m = done ? act.takeModule() : nullptr;
  os.flush();
  *ok = done && m != nullptr;
  return m;
}

/* Build the prelude PCH at `out` from the header at `header` (a real file: the PCH records it). */
static bool build_pch(const kg_jit *j, const std::string &header, const std::string &out, std::string *diag) {
  std::vector<std::string> args = {KG_CLANG_PATH};
  args.insert(args.end(), j->driver_flags.begin(), j->driver_flags.end());
  args.insert(args.end(), {"-x", "c-header", header});
  std::vector<std::string> cc1;
  if (!driver_cc1_args(args, &cc1, diag)) return false;
  raw_string_ostream os(*diag);
  auto ci = std::make_unique<clang::CompilerInstance>();
  {
    IntrusiveRefCntPtr<clang::DiagnosticOptions> dopts = new clang::DiagnosticOptions();
    auto *printer = new clang::TextDiagnosticPrinter(os, dopts.get());
    IntrusiveRefCntPtr<clang::DiagnosticsEngine> d =
        clang::CompilerInstance::createDiagnostics(dopts.get(), printer, true);
    auto inv = make_invocation(j, cc1, *d);
    if (!inv) return false;
    ci->setInvocation(std::move(inv));
  }
  /* createInvocation runs the driver with -fsyntax-only: it drops -o, so set the output here. */
  ci->getFrontendOpts().OutputFile = out;
  ci->getFrontendOpts().Inputs.clear();
  ci->getFrontendOpts().Inputs.emplace_back(header, clang::InputKind(clang::Language::C).getHeader());
  ci->createDiagnostics(new clang::TextDiagnosticPrinter(os, &ci->getDiagnosticOpts()), true);
  ci->setVerboseOutputStream(os);
  clang::GeneratePCHAction act;
  bool done = ci->ExecuteAction(act);
  os.flush();
  return done && !ci->getDiagnostics().hasErrorOccurred();
}

static bool file_has(const std::string &path, const std::string &text) {
  auto mb = MemoryBuffer::getFile(path);
  return mb && (*mb)->getBuffer() == text;
}

/* A PCH is usable when a trivial variant compiles against it (stale headers, other flags or a
   corrupt file all make that fail with a diagnostic, never a crash). */
static bool pch_usable(const kg_jit *j, const std::string &pch) {
  if (!sys::fs::exists(pch)) return false;
  LLVMContext ctx;
  std::string diag;
  bool ok;
  run_frontend(j, "int kg_pch_probe(void) { return 0; }\n", &ctx, pch, &diag, &ok);
  return ok;
}

static kg_status setup_prelude(kg_jit *j, const char *cache_dir, kg_ctx *ctx) {
  std::string key = std::string(KG_CLANG_VERSION) + "\n" + KG_CLANG_PATH + "\n" + j->cpu;
  for (auto &f : j->features) key += " " + f;
  for (auto &f : j->driver_flags) key += "\n" + f;
  key += "\n";
  key += kPrelude;
  char hex[17];
  snprintf(hex, sizeof hex, "%016llx", (unsigned long long)xxHash64(key));
  std::string base = std::string(cache_dir) + "/prelude-" + hex;
  std::string header = base + ".h", pch = base + ".pch";
  /* Rewriting an identical header would change its mtime and invalidate the PCH. */
  if (!file_has(header, kPrelude)) {
    kg_status st = kg_file_write_atomic(header.c_str(), kPrelude, sizeof kPrelude - 1, ctx);
    if (st) return st;
  }
  if (pch_usable(j, pch)) {
    j->pch = pch;
    return KG_OK;
  }
  std::string tmp = pch + ".tmp." + std::to_string(getpid());
  std::string diag;
  if (!build_pch(j, header, tmp, &diag)) {
    unlink(tmp.c_str());
    return kg_ctx_set(ctx, KG_ECOMPILE, "prelude PCH %s failed to build:\n%s", pch.c_str(), diag.c_str());
  }
  if (rename(tmp.c_str(), pch.c_str()) != 0) {
    unlink(tmp.c_str());
    return kg_ctx_set(ctx, KG_EIO, "%s: cannot write the prelude PCH", pch.c_str());
  }
  if (!pch_usable(j, pch))
    return kg_ctx_set(ctx, KG_ECOMPILE, "prelude PCH %s was built but does not load", pch.c_str());
  j->pch = pch;
  return KG_OK;
}

/* "+avx512f,+avx2,..." - the enabled features a reader of a fingerprint cares about. */
static std::string interesting_features(const StringMap<bool> &fm) {
  static const char *const names[] = {"sse4.2",
                                      "avx",
                                      "avx2",
                                      "fma",
                                      "f16c",
                                      "bmi2",
                                      "avx512f",
                                      "avx512dq",
                                      "avx512cd",
                                      "avx512bw",
                                      "avx512vl",
                                      "avx512ifma",
                                      "avx512vbmi",
                                      "avx512vbmi2",
                                      "avx512vnni",
                                      "avx512bitalg",
                                      "avx512vpopcntdq",
                                      "avx512bf16",
                                      "avx512fp16",
                                      "avxvnni",
                                      "amx-tile",
                                      "amx-int8",
                                      "amx-bf16"};
  std::string s;
  for (const char *n : names) {
    auto it = fm.find(n);
    if (it != fm.end() && it->second) s += std::string(s.empty() ? "+" : ",+") + n;
  }
  return s;
}

extern "C" kg_status kg_jit_new(const char *cache_dir, bool prelude, const char *extra_flags, kg_jit **out,
                                kg_ctx *ctx) {
  *out = nullptr;
  init_llvm_once();
  /* JIT'd OpenMP code calls __kmpc_*: make sure LLVM's libomp is in the global namespace even
     when the executable's link dropped it. */
#ifdef KG_OMP_LIB
  if (!dlopen(KG_OMP_LIB, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD)) dlopen(KG_OMP_LIB, RTLD_NOW | RTLD_GLOBAL);
#endif
  if (!sys::fs::exists(KG_CLANG_PATH))
    return kg_ctx_set(ctx, KG_EUNSUPPORTED, "%s: clang not found (its resource dir is needed)", KG_CLANG_PATH);
  auto j = std::make_unique<kg_jit>();

  /* LLVM 16 calls Zen5 "generic"; x86-64 plus the host's features keeps AVX-512 on. */
  j->cpu = sys::getHostCPUName().str();
  if (j->cpu.empty() || j->cpu == "generic") j->cpu = "x86-64";
  StringMap<bool> fm;
  if (sys::getHostCPUFeatures(fm)) {
    for (auto &kv : fm) j->features.push_back((kv.second ? "+" : "-") + kv.getKey().str());
    std::sort(j->features.begin(), j->features.end());
  }

  j->driver_flags = {"-O3", "-fopenmp", "-std=gnu17", "-march=x86-64"};
  if (char **extra = kg_proc_split_args(extra_flags)) {
    for (char **f = extra; *f; f++) j->driver_flags.push_back(*f);
    free(extra);
  }
  std::vector<std::string> args = {KG_CLANG_PATH};
  args.insert(args.end(), j->driver_flags.begin(), j->driver_flags.end());
  args.insert(args.end(), {"-c", kInputPath});
  std::string err;
  if (!driver_cc1_args(args, &j->cc1_args, &err))
    return kg_ctx_set(ctx, KG_ECOMPILE, "clang driver rejected the flags:\n%s", err.c_str());

  auto jtmb = orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb) return kg_ctx_set(ctx, KG_EUNSUPPORTED, "JIT: no host target: %s", toString(jtmb.takeError()).c_str());
  jtmb->setCPU(j->cpu);
  jtmb->getFeatures() = SubtargetFeatures();
  jtmb->addFeatures(j->features);
  jtmb->setCodeGenOptLevel(CodeGenOpt::Aggressive);
  jtmb->setRelocationModel(Reloc::PIC_);
  jtmb->setCodeModel(CodeModel::Small);
  auto jit = orc::LLJITBuilder()
                 .setJITTargetMachineBuilder(std::move(*jtmb))
                 .setCompileFunctionCreator(
                     [](orc::JITTargetMachineBuilder b) -> Expected<std::unique_ptr<orc::IRCompileLayer::IRCompiler>> {
                       return std::make_unique<orc::ConcurrentIRCompiler>(std::move(b));
                     })
                 .create();
  if (!jit) return kg_ctx_set(ctx, KG_EUNSUPPORTED, "JIT: %s", toString(jit.takeError()).c_str());
  j->jit = std::move(*jit);
  j->jit->getExecutionSession().setErrorReporter([](Error e) {
    t_session_errors += toString(std::move(e));
    t_session_errors += "\n";
  });

  if (prelude) {
    kg_status st = setup_prelude(j.get(), cache_dir, ctx);
    if (st != KG_OK) return st;
  }

  std::string fl;
  for (auto &f : j->driver_flags)
    if (f != "-march=x86-64") fl += " " + f;
  j->describe = "clang " + std::string(KG_CLANG_VERSION) + fl + " -march=" + j->cpu + " " + interesting_features(fm);
  *out = j.release();
  return KG_OK;
}

extern "C" void kg_jit_free(kg_jit *j) { delete j; }

extern "C" const char *kg_jit_describe(const kg_jit *j) { return j->describe.c_str(); }

static void release_dylib(kg_jit *j, orc::JITDylib *jd, orc::ResourceTrackerSP rt) {
  if (rt) consumeError(rt->remove());
  if (jd) consumeError(j->jit->getExecutionSession().removeJITDylib(*jd));
}

extern "C" kg_status kg_jit_compile(kg_jit *j, const char *src, kg_jit_module **out, char **diag, kg_ctx *ctx) {
  *out = nullptr;
  *diag = nullptr;
  std::string text;
  auto tsctx = std::make_unique<LLVMContext>();
  tsctx->setDiagnosticHandler(std::make_unique<DiagCollector>(&text));
  bool ok;
  std::unique_ptr<Module> m = run_frontend(j, src, tsctx.get(), j->pch, &text, &ok);
  if (!ok) {
    *diag = dup_cstr(text);
    return KG_ECOMPILE;
  }
  /* Clang's BackendConsumer swaps handlers during codegen; make sure ours is the one left. */
  tsctx->setDiagnosticHandler(std::make_unique<DiagCollector>(&text));

  auto mod = std::make_unique<kg_jit_module>();
  mod->j = j;
  std::string first;
  for (const GlobalValue &gv : m->global_values()) {
    if (gv.isDeclaration() || gv.hasLocalLinkage() || !gv.hasName()) continue;
    mod->syms.insert(gv.getName().str());
    /* Any defined symbol will do; without one the module would stay unmaterialized, holding a
       context whose diagnostic handler points at this frame. */
    if (first.empty()) first = gv.getName().str();
  }
  m->setDataLayout(j->jit->getDataLayout());

  orc::ExecutionSession &es = j->jit->getExecutionSession();
  std::string jdname = "kg" + std::to_string(j->next_id++);
  auto jd = es.createJITDylib(jdname);
  if (!jd) {
    *diag = dup_cstr(text);
    return kg_ctx_set(ctx, KG_EINTERNAL, "JIT: %s", toString(jd.takeError()).c_str());
  }
  mod->jd = &*jd;
  auto gen = orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(j->jit->getDataLayout().getGlobalPrefix());
  if (!gen) {
    release_dylib(j, mod->jd, nullptr);
    *diag = dup_cstr(text);
    return kg_ctx_set(ctx, KG_EINTERNAL, "JIT: %s", toString(gen.takeError()).c_str());
  }
  mod->jd->addGenerator(std::move(*gen));
  mod->rt = mod->jd->createResourceTracker();

  t_session_errors.clear();
  Error e = j->jit->addIRModule(mod->rt, orc::ThreadSafeModule(std::move(m), std::move(tsctx)));
  if (!e && !first.empty()) {
    /* The module is one materialization unit: one lookup compiles and links all of it now, so
       codegen and link errors belong to this call, not to a later kg_module_sym. */
    auto sym = j->jit->lookup(*mod->jd, first);
    if (!sym) e = sym.takeError();
  }
  if (e) {
    text += t_session_errors;
    text += toString(std::move(e));
    text += "\n";
    t_session_errors.clear();
    release_dylib(j, mod->jd, mod->rt);
    *diag = dup_cstr(text);
    return KG_ECOMPILE;
  }
  if (!text.empty()) *diag = dup_cstr(text);
  *out = mod.release();
  return KG_OK;
}

extern "C" void *kg_jit_sym(kg_jit_module *m, const char *symbol) {
  if (!m || !symbol || !m->syms.count(symbol)) return nullptr;
  auto sym = m->j->jit->lookup(*m->jd, symbol);
  if (!sym) {
    consumeError(sym.takeError());
    return nullptr;
  }
  return sym->toPtr<void *>();
}

extern "C" void kg_jit_module_free(kg_jit_module *m) {
  if (!m) return;
  release_dylib(m->j, m->jd, m->rt);
  delete m;
}
