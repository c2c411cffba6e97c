// What load balancers rely on: the instance name in a header and in /health, /health's "loading"
// and "draining" 503s, the drain delay (still serving while /health says draining), and the
// engine's gauges in /metrics.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "server_fixture.h"

namespace qwenvl::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;
using ScaleOutTest = testing::ServerTest;
using json = nlohmann::json;

TEST_F(ScaleOutTest, InstanceNameInEveryResponseAndInHealth) {
  ServerOptions o;
  o.instance_name = "replica-7";
  StartServer(o);
  const auto health = Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->header("x-qwenvl-instance"), "replica-7");
  EXPECT_EQ(json::parse(health->body)["instance"], "replica-7");
  const auto answer = Chat(Simple());
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(answer->header("x-qwenvl-instance"), "replica-7");
  const auto missing = Get("/no/such/page");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->header("x-qwenvl-instance"), "replica-7");
}

TEST_F(ScaleOutTest, NoInstanceHeaderWithoutAName) {
  StartServer();
  const auto health = Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->header("x-qwenvl-instance"), "");
  EXPECT_FALSE(json::parse(health->body).contains("instance"));
}

TEST_F(ScaleOutTest, InstanceNamesThatCannotBeAHeaderAreRefused) {
  for (const std::string& bad :
       {std::string("two words"), std::string("line\r\nX-Evil: 1"), std::string("tab\there"),
        std::string(254, 'a'), std::string("caf\xc3\xa9")}) {
    ServerOptions o;
    o.instance_name = bad;
    EXPECT_THROW(HttpServer(engine_, o), Error) << bad;
  }
  ServerOptions negative;
  negative.drain_delay = -1ms;
  EXPECT_THROW(HttpServer(engine_, negative), Error);
}

TEST_F(ScaleOutTest, LoadingUntilTheEngineIsReady) {
  engine_.loaded = false;
  StartServer();
  const auto health = Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503);
  EXPECT_EQ(json::parse(health->body)["status"], "loading");
  const auto refused = Chat(Simple());
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(json::parse(refused->body)["error"]["code"], "model_loading");
  EXPECT_EQ(engine_.submitted(), 0);
  const auto ollama = testing::Fetch(port_, "POST", "/api/chat", R"({"model":"m","messages":[]})");
  ASSERT_TRUE(ollama);
  EXPECT_EQ(ollama->status, 503);
  const auto tokenize = testing::Fetch(port_, "POST", "/tokenize", R"({"content":"hi"})",
                                       {{"Content-Type", "application/json"}});
  ASSERT_TRUE(tokenize);
  EXPECT_EQ(tokenize->status, 503);
  const auto metrics = Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);  // a scrape while loading sees zeros, not an error

  engine_.loaded = true;
  EXPECT_EQ(Get("/health")->status, 200);
  EXPECT_EQ(Chat(Simple())->status, 200);
}

TEST_F(ScaleOutTest, DrainDelayServesWhileHealthSaysDraining) {
  ServerOptions o;
  o.drain_delay = 1500ms;
  StartServer(o);
  server_->Drain();
  ASSERT_TRUE(WaitFor([&] {
    const auto h = Get("/health");
    return h && h->status == 503;
  }));
  EXPECT_EQ(json::parse(Get("/health")->body)["status"], "draining");
  // Still serving, on connections that close after the answer (none is left idle to race the
  // close of the port).
  const auto answer = Chat(Simple());
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(answer->header("connection"), "close");
  // After the delay the port closes: connections are refused.
  EXPECT_TRUE(WaitFor([&] { return !Get("/health").has_value(); }, 10s));
}

TEST_F(ScaleOutTest, WithoutDrainDelayThePortClosesAtOnce) {
  StartServer();
  ASSERT_EQ(Get("/health")->status, 200);
  server_->Drain();
  EXPECT_TRUE(WaitFor([&] { return !Get("/health").has_value(); }, 2s));
}

TEST_F(ScaleOutTest, MetricsCarryTheEngineGaugesUnderBothNames) {
  engine_.engine_stats.requests_waiting = 3;
  engine_.engine_stats.requests_running = 2;
  engine_.engine_stats.kv_rows_used = 1024;
  engine_.engine_stats.kv_rows_capacity = 4096;
  engine_.engine_stats.vision_cache_entries = 5;
  engine_.engine_stats.vision_cache_bytes = 123456;
  engine_.engine_stats.vision_cache_hits_total = 7;
  engine_.engine_stats.vision_cache_misses_total = 11;
  engine_.engine_stats.prefix_cache_hit_tokens_total = 900;
  engine_.engine_stats.prefix_cache_media_total = 4;
  engine_.engine_stats.prompt_tokens_total = 2000;
  ServerOptions o;
  o.served_model_names = {"qwen \"vl\""};  // a label value that needs escaping
  StartServer(o);
  const auto r = Get("/metrics");
  ASSERT_TRUE(r);
  const std::string& t = r->body;
  EXPECT_THAT(t, HasSubstr("\nqwenvl_requests_waiting 3\n"));
  EXPECT_THAT(t, HasSubstr("\nqwenvl_requests_running 2\n"));
  EXPECT_THAT(t, HasSubstr("\nqwenvl_kv_cache_usage_ratio 0.25\n"));
  EXPECT_THAT(t, HasSubstr("\nqwenvl_kv_cache_rows 1024\n"));
  EXPECT_THAT(t, HasSubstr("\nqwenvl_kv_cache_capacity_rows 4096\n"));
  EXPECT_THAT(t, HasSubstr("\nqwenvl_vision_cache_entries 5\n"));
  EXPECT_THAT(t, HasSubstr("\nqwenvl_vision_cache_bytes 123456\n"));
  EXPECT_THAT(t, HasSubstr("\nqwenvl_vision_cache_hits_total 7\n"));
  EXPECT_THAT(t, HasSubstr("\nqwenvl_vision_cache_misses_total 11\n"));
  EXPECT_THAT(t, HasSubstr("\nqwenvl_prefix_cache_hit_tokens_total 900\n"));
  EXPECT_THAT(t, HasSubstr("\nqwenvl_prefix_cache_media_total 4\n"));
  EXPECT_THAT(t, HasSubstr("\nqwenvl_prefix_cache_queried_tokens_total 2000\n"));
  const std::string label = "{model_name=\"qwen \\\"vl\\\"\"}";
  EXPECT_THAT(t, HasSubstr("\nvllm:num_requests_waiting" + label + " 3\n"));
  EXPECT_THAT(t, HasSubstr("\nvllm:num_requests_running" + label + " 2\n"));
  EXPECT_THAT(t, HasSubstr("\nvllm:gpu_cache_usage_perc" + label + " 0.25\n"));
  EXPECT_THAT(t, HasSubstr("\nvllm:kv_cache_usage_perc" + label + " 0.25\n"));
  EXPECT_THAT(t, HasSubstr("# TYPE vllm:lora_requests_info gauge\n"));
  EXPECT_THAT(t, HasSubstr("# TYPE vllm:time_to_first_token_seconds histogram\n"));
  EXPECT_THAT(t, HasSubstr("# TYPE vllm:time_per_output_token_seconds histogram\n"));
  // Every sample line is "name{labels} value" or "name value": nothing unescaped breaks a line.
  const std::regex kSample(R"(^[a-z_:]+(\{.*\})? [-+0-9.eInf]+$)");
  size_t pos = 0;
  while (pos < t.size()) {
    const size_t end = t.find('\n', pos);
    ASSERT_NE(end, std::string::npos);
    const std::string line = t.substr(pos, end - pos);
    pos = end + 1;
    if (line.starts_with("#")) continue;
    EXPECT_TRUE(std::regex_match(line, kSample)) << line;
  }
}

TEST_F(ScaleOutTest, EmptyKvCapacityIsZeroUsageNotADivisionByZero) {
  StartServer();
  const auto r = Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_THAT(r->body, HasSubstr("\nqwenvl_kv_cache_usage_ratio 0\n"));
  EXPECT_THAT(r->body, Not(HasSubstr("nan")));
}

}  // namespace
}  // namespace qwenvl::server
