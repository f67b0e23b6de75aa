// POST /v1/images/generations, the tenant quota and eta_s, over real HTTP against
// FakeTaskService. (The official OpenAI client runs against the real server in
// tests/openai_client.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <mutex>
#include <thread>
#include <vector>

#include "api/api_keys.h"
#include "api/testing/http_test_support.h"
#include "common/base64.h"
#include "common/thread_annotations.h"
#include "service/image_inputs.h"

namespace stipple::http::testing {
namespace {

namespace json = boost::json;

const std::pair<std::string, std::string> kJson{"Content-Type", "application/json"};

json::object Body(const TestResponse& r) { return json::parse(r.body).as_object(); }

// Succeeds the next submitted task once it appears.
std::thread SucceedNextTask(FakeTaskService& service) {
  return std::thread([&service] {
    for (int i = 0; i < 500 && service.submitted().empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!service.submitted().empty()) service.Succeed(service.submitted().back().id);
  });
}

TEST(OpenAiImages, GeneratesSynchronouslyAndAnswersBase64Images) {
  TestServer s;
  std::thread worker = SucceedNextTask(s.service);
  TestResponse r = s.Send("POST", "/v1/images/generations", {kJson},
                          R"({"prompt":"a red circle","n":1,"size":"32x32","user":"u1",
                              "steps":10,"seed":7})");
  worker.join();
  ASSERT_EQ(r.status, 200) << r.body;
  json::object body = Body(r);
  EXPECT_TRUE(body["created"].is_int64());
  std::string id(r.headers.Get("X-Stipple-Task-Id").value_or(""));
  ASSERT_EQ(body["data"].as_array().size(), 1u);
  std::string b64(body["data"].as_array()[0].as_object()["b64_json"].as_string());
  EXPECT_EQ(Base64Decode(b64).value(), "png:" + id + ":0");
  const NewTask task = s.service.submitted().at(0);  // submitted() answers a copy
  EXPECT_EQ(task.request.steps, 10);
  EXPECT_EQ(task.request.seed, 7u);
  EXPECT_EQ(task.request.width, 32);
}

TEST(OpenAiImages, UrlFormatAnswersOutputUrls) {
  TestServer s;
  std::thread worker = SucceedNextTask(s.service);
  TestResponse r = s.Send("POST", "/v1/images/generations", {kJson, {"Host", "example.test:81"}},
                          R"({"prompt":"a red circle","response_format":"url"})");
  worker.join();
  ASSERT_EQ(r.status, 200) << r.body;
  std::string id(r.headers.Get("X-Stipple-Task-Id").value_or(""));
  EXPECT_EQ(json::value_to<std::string>(Body(r)["data"].as_array()[0].as_object()["url"]),
            "http://example.test:81/v1/tasks/" + id + "/outputs/0");
}

TEST(OpenAiImages, ErrorsUseOpenAisShapeAndNameTheOpenAiField) {
  TestServer s;
  struct Case {
    std::string body;
    std::string param;
  };
  for (const Case& c :
       std::vector<Case>{{R"({"prompt":"a","size":"big"})", "size"},
                         {R"({"prompt":"a","size":"64x64"})", "size"},
                         {R"({"prompt":"a","n":99})", "n"},
                         {R"({"prompt":"a","response_format":"png"})", "response_format"},
                         {R"({"prompt":"a","quality":"hd"})", "quality"},
                         // passed on as the request's clip_skip; shapes-32 has no layers to skip
                         {R"({"prompt":"a","clip_skip":1})", "clip_skip"},
                         {R"({"n":1})", "prompt"},
                         {"[1]", "body"}}) {
    TestResponse r = s.Send("POST", "/v1/images/generations", {kJson}, c.body);
    EXPECT_EQ(r.status, 400) << c.body;
    EXPECT_EQ(r.headers.Get("Content-Type").value_or(""), "application/json");
    json::object error = Body(r)["error"].as_object();
    EXPECT_EQ(error["type"], "invalid_request_error") << c.body;
    EXPECT_EQ(error["param"].is_string() ? std::string(error["param"].as_string()) : "", c.param)
        << r.body;
    EXPECT_FALSE(error["message"].as_string().empty());
  }
  EXPECT_TRUE(s.service.submitted().empty());
}

TEST(OpenAiImages, TheGatewaysOwnRefusalsUseOpenAisShapeToo) {
  TestServer s;
  s.server->gateway().SetApiKeys(ApiKeys::Parse("alice key-a\n").value());
  TestResponse r = s.Send("POST", "/v1/images/generations", {kJson}, R"({"prompt":"a"})");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Body(r)["error"].as_object()["code"], "invalid_api_key");
  s.service.set_submit_error(ResourceExhaustedError("the queue is full; retry after 9 s"));
  r = s.Send("POST", "/v1/images/generations", {kJson, {"Authorization", "Bearer key-a"}},
             R"({"prompt":"a"})");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.headers.Get("Retry-After").value_or(""), "9");
  EXPECT_EQ(Body(r)["error"].as_object()["type"], "rate_limit_error");
}

TEST(OpenAiImages, AFailedTaskAnswers500) {
  TestServer s;
  std::thread worker([&] {
    for (int i = 0; i < 500 && s.service.submitted().empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    s.service.Fail(s.service.submitted().at(0).id);
  });
  TestResponse r = s.Send("POST", "/v1/images/generations", {kJson}, R"({"prompt":"a"})");
  worker.join();
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(Body(r)["error"].as_object()["type"], "server_error");
}

// A test double of StoreImageInputs: records each source it is asked to resolve and resolves it
// to a fixed 32x32 reference.
class RecordingImageInputs : public ImageInputs {
 public:
  Status Resolve(GenerationRequest& request, const ModelLimits&) override {
    MutexLock lock(mu_);
    for (auto* input : {&request.init_image, &request.mask_image}) {
      if (!*input || (*input)->resolved()) continue;
      sources_.push_back((*input)->source);
      **input = ImageInput{"", std::string(64, 'a'), "image/jpeg", 32, 32};
    }
    if (request.width == 0) request.width = request.height = 32;
    return Status::Ok();
  }
  std::vector<std::string> sources() {
    MutexLock lock(mu_);
    return sources_;
  }

 private:
  Mutex mu_;
  std::vector<std::string> sources_ GUARDED_BY(mu_);
};

ApiServerOptions EditOptions(ImageInputs* inputs) {
  ApiServerOptions o = TestOptions();
  o.gateway.image_inputs = inputs;
  return o;
}

// POST /v1/images/edits over HTTP: the form's image reaches the resolver as init_image's data:
// URL, and the submitted request holds what it resolved to (the form itself is covered by
// openai_request_test.cc).
TEST(OpenAiEdits, SubmitsTheImageAsInitImageThroughTheSameAdmission) {
  RecordingImageInputs inputs;
  TestServer s(EditOptions(&inputs));
  const std::string jpeg = "\xff\xd8\xff\xe0 a jpeg";
  const std::string form =
      "--XX\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n"
      "Content-Type: image/jpeg\r\n\r\n" +
      jpeg +
      "\r\n--XX\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\na red circle"
      "\r\n--XX\r\nContent-Disposition: form-data; name=\"strength\"\r\n\r\n0.5\r\n--XX--\r\n";
  const std::pair<std::string, std::string> multipart{"Content-Type",
                                                      "multipart/form-data; boundary=XX"};
  std::thread worker = SucceedNextTask(s.service);
  TestResponse r = s.Send("POST", "/v1/images/edits", {multipart}, form);
  worker.join();
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(Body(r)["data"].as_array().size(), 1u);
  const GenerationRequest request =
      s.service.submitted().at(0).request;  // a copy: submitted() answers by value
  ASSERT_TRUE(request.init_image.has_value());
  EXPECT_TRUE(request.init_image->resolved());
  EXPECT_EQ(inputs.sources(),
            std::vector<std::string>{"data:image/jpeg;base64," + Base64Encode(jpeg)});
  EXPECT_FALSE(request.mask_image.has_value());
  EXPECT_EQ(request.strength, 0.5);

  // Not multipart: 415; a mask that is not a PNG: 400 naming it, both in OpenAI's shape.
  r = s.Send("POST", "/v1/images/edits", {kJson}, R"({"prompt":"a"})");
  EXPECT_EQ(r.status, 415);
  EXPECT_EQ(Body(r)["error"].as_object()["param"], "Content-Type");
  std::string with_mask = form;
  with_mask.insert(with_mask.size() - 10,
                   "\r\n--XX\r\nContent-Disposition: form-data; name=\"mask\"; "
                   "filename=\"m.png\"\r\n\r\nnot a png");
  r = s.Send("POST", "/v1/images/edits", {multipart}, with_mask);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(Body(r)["error"].as_object()["param"], "mask");
  EXPECT_EQ(s.service.submitted().size(), 1u);
}

ApiServerOptions QuotaOptions() {
  ApiServerOptions o = TestOptions();
  o.gateway.tenant_max_queued = 2;
  return o;
}

QueueSnapshot OneWorkerTenSecondsARun() {
  QueueSnapshot snap;
  snap.workers_online = 1;
  snap.mean_run_s = 10;
  return snap;
}

TEST(TenantQuota, RefusesPastTheQuotaWithARetryAfterFromTheQueue) {
  TestServer s(QuotaOptions());
  s.service.set_queue(OneWorkerTenSecondsARun());
  EXPECT_NE(s.CreateTask(), "");
  std::string second = s.CreateTask();
  EXPECT_NE(second, "");
  TestResponse r = s.Send("POST", "/v1/tasks", {kJson}, R"({"prompt":"a"})");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(Body(r)["type"], "too_many_requests");
  // The oldest queued task has nothing ahead: it starts within one run at 0.1 tasks/s.
  EXPECT_EQ(r.headers.Get("Retry-After").value_or(""), "10");
  EXPECT_EQ(s.service.submitted().size(), 2u);
  // Sync requests and the OpenAI endpoint meet the same quota.
  r = s.Send("POST", "/v1/tasks", {kJson, {"Prefer", "wait=5"}}, R"({"prompt":"a"})");
  EXPECT_EQ(r.status, 429);
  r = s.Send("POST", "/v1/images/generations", {kJson}, R"({"prompt":"a"})");
  EXPECT_EQ(r.status, 429);
  // Once a task leaves the queue there is room again.
  s.service.Start(second);
  EXPECT_NE(s.CreateTask(), "");
}

TEST(TenantQuota, CountsEachTenantApart) {
  TestServer s(QuotaOptions());
  s.server->gateway().SetApiKeys(ApiKeys::Parse("alice key-a\nbob key-b\n").value());
  auto create = [&](const char* key) {
    return s
        .Send("POST", "/v1/tasks", {kJson, {"Authorization", std::string("Bearer ") + key}},
              R"({"prompt":"a"})")
        .status;
  };
  EXPECT_EQ(create("key-a"), 202);
  EXPECT_EQ(create("key-a"), 202);
  EXPECT_EQ(create("key-a"), 429);
  EXPECT_EQ(create("key-b"), 202);
}

TEST(TaskEta, TheAnswerToASubmitCarriesThePositionAndTheEstimate) {
  TestServer s;
  s.service.set_queue(OneWorkerTenSecondsARun());
  TestResponse r = s.Send("POST", "/v1/tasks", {kJson}, R"({"prompt":"a"})");
  ASSERT_EQ(r.status, 202);
  json::object task = Body(r);
  EXPECT_EQ(task["queue_position"], 0);
  EXPECT_DOUBLE_EQ(task["eta_s"].to_number<double>(), 10.0);
}

TEST(TaskEta, QueuedAndRunningTasksCarryAnEstimate) {
  TestServer s;
  s.service.set_queue(OneWorkerTenSecondsARun());
  std::string id = s.CreateTask();
  json::object task = Body(s.Send("GET", "/v1/tasks/" + id));
  EXPECT_EQ(task["queue_position"], 0);
  EXPECT_DOUBLE_EQ(task["eta_s"].to_number<double>(), 10.0);  // nothing ahead, one run
  s.service.Start(id);
  s.service.Progress(id, 5, 20);
  EXPECT_DOUBLE_EQ(Body(s.Send("GET", "/v1/tasks/" + id))["eta_s"].to_number<double>(), 7.5);
  s.service.Succeed(id);
  EXPECT_TRUE(Body(s.Send("GET", "/v1/tasks/" + id))["eta_s"].is_null());
}

}  // namespace
}  // namespace stipple::http::testing
