#include "harness/validate.hpp"

#include <cstdio>
#include <ostream>

namespace costcurve {

std::vector<ProblemSpec> validation_suite() {
  std::vector<ProblemSpec> v;
  ProblemSpec s;
  Batch ragged_decode;
  ragged_decode.s_q = 2;
  ragged_decode.seq_lens = {2, 77, 300};
  ragged_decode.capacity = 320;

  s.op = Op::dense_prefill;
  s.batch = Batch::prefill_chunk(45, 37);
  v.push_back(s);

  s = {};
  s.op = Op::dense_decode;
  s.batch = ragged_decode;
  v.push_back(s);

  s = {};
  s.op = Op::indexer;
  s.batch = Batch::prefill_chunk(100, 37);
  v.push_back(s);
  s.batch = ragged_decode;
  v.push_back(s);

  s = {};
  s.op = Op::topk;
  s.batch = Batch::prefill_chunk(2040, 16);  // rows both shorter and longer than k = 2048
  v.push_back(s);

  s = {};
  s.op = Op::sparse_prefill;
  s.top_k = 256;
  s.batch = Batch::prefill_chunk(250, 13);
  v.push_back(s);

  s.op = Op::sparse_decode;
  s.batch = ragged_decode;
  v.push_back(s);

  s = {};
  s.op = Op::gemm;
  s.m = 97;
  s.n = 80;
  s.k = 71;  // fp8 runs round k up to a multiple of 16
  v.push_back(s);
  return v;
}

std::vector<ValidationRow> run_validation(Backend& be, const std::vector<ProblemSpec>& specs,
                                          std::uint64_t seed) {
  // Each shape in every storage dtype the backend offers for it (the GPU's attention is bf16-only,
  // the CPU's is f32 or bf16 storage); a shape it offers in no dtype is an error row.
  std::vector<ProblemSpec> expanded;
  for (const ProblemSpec& s : specs) {
    bool any = false;
    for (DType t : {DType::f32, DType::bf16, DType::fp8_e4m3}) {
      if (!be.supports(s.op, t)) continue;
      ProblemSpec d = s;
      d.dtype = t;
      if (t == DType::fp8_e4m3 && s.op == Op::gemm) d.k = (d.k + 15) / 16 * 16;  // cuBLASLt
      expanded.push_back(d);
      any = true;
    }
    if (!any) expanded.push_back(s);  // reports the backend's own "not supported" error
  }
  std::vector<ValidationRow> rows;
  for (const ProblemSpec& s : expanded) {
    ValidationRow row{s, {}, {}};
    try {
      auto p = make_problem(s, be);
      p->setup(seed++);
      p->run();
      be.synchronize();
      row.result = p->validate();
    } catch (const std::exception& e) {
      row.error = e.what();
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

bool print_validation(std::ostream& os, const std::vector<ValidationRow>& rows) {
  bool all = true;
  char line[256];
  std::snprintf(line, sizeof line, "%-48s %12s %10s  %s\n", "operation", "rel. error", "bound",
                "result");
  os << line;
  for (const auto& r : rows) {
    const bool ok = r.error.empty() && r.result.pass;
    all = all && ok;
    if (!r.error.empty()) {
      std::snprintf(line, sizeof line, "%-48s %12s %10s  ERROR\n", r.spec.describe().c_str(), "-",
                    "-");
      os << line << "    " << r.error << "\n";
      continue;
    }
    std::snprintf(line, sizeof line, "%-48s %12.3g %10.3g  %s\n", r.spec.describe().c_str(),
                  r.result.rel_l2, r.result.tolerance, ok ? "pass" : "FAIL");
    os << line;
    if (!ok) os << "    " << r.result.detail << "\n";
  }
  return all;
}

}  // namespace costcurve
