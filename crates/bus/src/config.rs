//! Connection settings shared by producers, consumers and the admin client.

use rdkafka::ClientConfig;

/// How to reach the Kafka cluster.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// Bootstrap servers, comma-separated `host:port`.
    pub brokers: String,
    /// Prepended to every topic name of `topics.yaml`.
    pub topic_prefix: String,
    /// Extra librdkafka properties (`security.protocol`, `sasl.*`, ...), applied
    /// last so they override costflow's defaults.
    pub extra: Vec<(String, String)>,
}

impl KafkaConfig {
    /// Settings for a cluster at `brokers` with no prefix and no extras.
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            topic_prefix: String::new(),
            extra: Vec::new(),
        }
    }

    /// The full name of a topic declared in `topics.yaml`.
    pub fn topic(&self, name: &str) -> String {
        format!("{}{}", self.topic_prefix, name)
    }

    /// A client configuration with the bootstrap servers, the given defaults and
    /// then the operator's extras.
    pub(crate) fn client(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (key, value) in defaults {
            config.set(*key, *value);
        }
        for (key, value) in &self.extra {
            config.set(key, value);
        }
        config
    }
}
