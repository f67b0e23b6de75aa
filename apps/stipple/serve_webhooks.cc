#include "serve_webhooks.h"

#include <cstdio>
#include <filesystem>

namespace stipple::app {
namespace {

const OptionSpec kWebhookOptions[] = {
    {.name = "webhook-secret",
     .help = "webhook signing secret (whsec_ + base64); repeat to sign with several while "
             "rotating; none: one generated into DATA_DIR/webhook-secret",
     .kind = OptionKind::kList,
     .value_name = "whsec_..."},
    {.name = "webhook-allow-private",
     .default_value = "false",
     .help = "let webhooks reach loopback, private, link-local and metadata addresses",
     .kind = OptionKind::kFlag},
    {.name = "webhook-retry-schedule",
     .default_value = "5,300,1800,7200,18000,36000,36000",
     .help = "seconds before each retry of a failed webhook delivery (each ±20% jitter)",
     .value_name = "S,S,..."},
    {.name = "webhook-timeout-s",
     .default_value = "10",
     .help = "time limit of one webhook delivery attempt, connect included",
     .value_name = "SECONDS"},
    {.name = "webhook-progress-interval-s",
     .default_value = "1",
     .help = "at most one progress webhook per task this often",
     .value_name = "SECONDS"},
    {.name = "webhook-concurrency",
     .default_value = "256",
     .help = "webhook deliveries in flight at once, all receivers",
     .value_name = "N"},
    {.name = "webhook-per-host",
     .default_value = "16",
     .help = "webhook deliveries in flight at once to one host:port",
     .value_name = "N"},
};

}  // namespace

std::span<const OptionSpec> WebhookOptions() { return kWebhookOptions; }

Result<WebhookSettings> ReadWebhookSettings(const Config& config) {
  WebhookSettings s;
  for (const std::string& text : config.GetList("webhook-secret")) {
    Result<webhook::SigningSecret> secret = webhook::ParseSecret(text);
    if (!secret.ok()) return InvalidArgumentError("--webhook-secret: " + secret.status().message());
    s.configured_secrets.push_back(text);
  }
  ASSIGN_OR_RETURN(s.dispatcher.allow_private, config.GetBool("webhook-allow-private"));
  Result<std::vector<Millis>> schedule =
      webhook::ParseRetrySchedule(config.GetString("webhook-retry-schedule"));
  if (!schedule.ok())
    return InvalidArgumentError("--webhook-retry-schedule: " + schedule.status().message());
  s.dispatcher.retry_schedule = std::move(*schedule);
  ASSIGN_OR_RETURN(double timeout_s, config.GetDouble("webhook-timeout-s"));
  if (!(timeout_s >= 0.05 && timeout_s <= 600))
    return InvalidArgumentError("--webhook-timeout-s must be in 0.05..600");
  s.dispatcher.timeout = Millis(static_cast<int64_t>(timeout_s * 1000));
  ASSIGN_OR_RETURN(double interval_s, config.GetDouble("webhook-progress-interval-s"));
  if (!(interval_s >= 0 && interval_s <= 3600))
    return InvalidArgumentError("--webhook-progress-interval-s must be in 0..3600");
  s.progress_interval = Millis(static_cast<int64_t>(interval_s * 1000));
  ASSIGN_OR_RETURN(int64_t concurrency, config.GetInt("webhook-concurrency"));
  ASSIGN_OR_RETURN(int64_t per_host, config.GetInt("webhook-per-host"));
  if (concurrency < 1 || concurrency > 10'000)
    return InvalidArgumentError("--webhook-concurrency must be in 1..10000");
  if (per_host < 1 || per_host > 10'000)
    return InvalidArgumentError("--webhook-per-host must be in 1..10000");
  s.dispatcher.max_concurrency = static_cast<int>(concurrency);
  s.dispatcher.max_per_host = static_cast<int>(per_host);
  return s;
}

Result<std::vector<webhook::SigningSecret>> LoadWebhookSecrets(const WebhookSettings& settings,
                                                               const std::string& data_dir) {
  std::vector<webhook::SigningSecret> secrets;
  for (const std::string& text : settings.configured_secrets) {
    ASSIGN_OR_RETURN(webhook::SigningSecret s, webhook::ParseSecret(text));
    secrets.push_back(std::move(s));
  }
  if (!secrets.empty()) return secrets;
  ASSIGN_OR_RETURN(webhook::SigningSecret s,
                   webhook::LoadOrCreateSecretFile(
                       (std::filesystem::path(data_dir) / "webhook-secret").string()));
  secrets.push_back(std::move(s));
  return secrets;
}

Result<std::vector<webhook::SigningSecret>> LoadSharedWebhookSecrets(
    const WebhookSettings& settings, webhook::RedisWebhookOutbox& outbox) {
  std::vector<webhook::SigningSecret> secrets;
  for (const std::string& text : settings.configured_secrets) {
    ASSIGN_OR_RETURN(webhook::SigningSecret s, webhook::ParseSecret(text));
    secrets.push_back(std::move(s));
  }
  if (!secrets.empty()) return secrets;
  bool created = false;
  ASSIGN_OR_RETURN(webhook::SigningSecret s, outbox.SharedSecret(&created));
  if (created) {
    // Where it is, never the secret itself (stderr ends up in logs).
    std::fprintf(stderr,
                 "stipple: generated the webhook signing secret, kept in Redis under the key %s "
                 "(shared by every gateway; receivers verify with it)\n",
                 outbox.SharedSecretKey().c_str());
  }
  secrets.push_back(std::move(s));
  return secrets;
}

}  // namespace stipple::app
