#include "server/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace qwenvl::server {
namespace {

using ::testing::HasSubstr;

TEST(Metrics, HistogramIsCumulative) {
  Histogram h({0.1, 1.0});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(5.0);
  const std::string text = h.Render("x");
  EXPECT_THAT(text, HasSubstr("x_bucket{le=\"0.10000000000000001\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("x_bucket{le=\"1\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("x_bucket{le=\"+Inf\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("x_sum 5.5499999999999998\n"));
  EXPECT_THAT(text, HasSubstr("x_count 3\n"));
}

TEST(Metrics, TracksLifecycleAndStatuses) {
  Metrics m;
  m.Submitted();
  m.Submitted();
  EXPECT_EQ(m.active(), 2);
  EXPECT_EQ(m.waiting(), 2);
  m.FirstToken(0.02);
  EXPECT_EQ(m.waiting(), 1);
  m.Finished({.had_first_token = true,
              .seconds = 0.3,
              .first_token_seconds = 0.02,
              .prompt_tokens = 12,
              .completion_tokens = 5});
  m.Finished({.seconds = 0.01, .cancelled = true});
  EXPECT_EQ(m.active(), 0);
  EXPECT_EQ(m.waiting(), 0);
  m.CountRequest(200);
  m.CountRequest(400);
  m.CountRequest(400);
  const std::string text = m.Render(EngineStats{}, "m");
  EXPECT_THAT(text, HasSubstr("# TYPE qwenvl_requests_total counter\n"));
  EXPECT_THAT(text, HasSubstr("qwenvl_requests_total{status=\"200\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("qwenvl_requests_total{status=\"400\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("qwenvl_prompt_tokens_total 12\n"));
  EXPECT_THAT(text, HasSubstr("qwenvl_generated_tokens_total 5\n"));
  EXPECT_THAT(text, HasSubstr("qwenvl_cancelled_requests_total 1\n"));
  EXPECT_THAT(text, HasSubstr("qwenvl_queue_length 0\n"));
  EXPECT_THAT(text, HasSubstr("qwenvl_active_requests 0\n"));
  EXPECT_THAT(text, HasSubstr("qwenvl_time_to_first_token_seconds_count 1\n"));
  EXPECT_THAT(text, HasSubstr("qwenvl_request_duration_seconds_count 2\n"));
  // One request had tokens after its first: (0.3 - 0.02) / 4 per token.
  EXPECT_THAT(text, HasSubstr("qwenvl_time_per_output_token_seconds_count 1\n"));
  EXPECT_THAT(text, HasSubstr("qwenvl_time_per_output_token_seconds_sum 0.06999999"));
  EXPECT_THAT(text, HasSubstr("vllm:time_per_output_token_seconds_count{model_name=\"m\"} 1\n"));
}

}  // namespace
}  // namespace qwenvl::server
