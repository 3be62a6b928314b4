// Malformed shapes and names are refused with a message that names the field.
#include <gtest/gtest.h>

#include "harness/problem.hpp"

namespace costcurve {
namespace {

template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const OpError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Shapes, BatchErrorsNameTheField) {
  Batch b = Batch::uniform(2, 2, 10);
  b.s_q = 0;
  EXPECT_NE(error_of([&] { b.check(); }).find("s_q"), std::string::npos);
  b = Batch::uniform(2, 2, 10);
  b.seq_lens[1] = 1;
  EXPECT_NE(error_of([&] { b.check(); }).find("seq_lens[1]"), std::string::npos);
  b = Batch::uniform(2, 2, 10);
  b.seq_lens[0] = 11;
  EXPECT_NE(error_of([&] { b.check(); }).find("capacity"), std::string::npos);
  b.seq_lens.clear();
  EXPECT_NE(error_of([&] { b.check(); }).find("empty"), std::string::npos);
}

TEST(Shapes, OperationErrorsNameTheField) {
  MqaShape m;
  m.batch = Batch::uniform(1, 1, 4);
  m.d_v = 600;
  EXPECT_NE(error_of([&] { check(m); }).find("d_v"), std::string::npos);
  EXPECT_NE(error_of([&] { check_topk(m.batch, 0); }).find("top_k"), std::string::npos);
  DensePrefillShape d;
  d.batch = Batch::prefill_chunk(0, 4);
  d.heads = -1;
  EXPECT_NE(error_of([&] { check(d); }).find("heads"), std::string::npos);
  EXPECT_NE(error_of([&] { check_gemm({0, 1, 1}); }).find("m"), std::string::npos);
}

TEST(Shapes, ProblemsRefuseBadSpecs) {
  auto be = make_backend("cpu", 1);
  ProblemSpec s;
  s.op = Op::topk;
  s.top_k = 0;
  EXPECT_THROW(make_problem(s, *be), OpError);
  s = {};
  s.op = Op::gemm;
  EXPECT_THROW(make_problem(s, *be), OpError);
}

TEST(Shapes, UnknownBackendAndUnsupportedDtype) {
  EXPECT_NE(error_of([] { make_backend("tpu"); }).find("unknown backend 'tpu'"), std::string::npos);
  auto be = make_backend("cpu", 1);
  ProblemSpec s;
  s.op = Op::dense_decode;
  s.batch = Batch::uniform(1, 1, 4);
  s.dtype = DType::fp8_e4m3;
  auto p = make_problem(s, *be);
  p->setup(1);
  EXPECT_NE(error_of([&] { p->run(); }).find("f32 and bf16"), std::string::npos);
}

TEST(Shapes, OpNamesRoundTrip) {
  for (Op op : kAllOps) {
    Op back{};
    ASSERT_TRUE(parse_op(op_name(op), back));
    EXPECT_EQ(back, op);
  }
  Op x{};
  EXPECT_FALSE(parse_op("dense", x));
}

}  // namespace
}  // namespace costcurve
