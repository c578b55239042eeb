//! The Prometheus side of an analysis (stage ⑦): instant queries, their results as the
//! condition language sees them, and one measurement of a metric.
//!
//! Input: a Prometheus address, a metric (query, conditions, `minSamples`). Output: a
//! [`Measurement`] — its phase from the conditions, the value as Prometheus gave it, and for
//! an error (Prometheus down, a bad query, an empty result) the reason. A scalar is a number,
//! a vector a list of its samples' values, a matrix the list of all its points, as Argo
//! Rollouts reads them.

use std::time::Duration;

use serde_json::Value as Json;

use super::analysis::{Measurement, Metric, Millis, Phase, assess, with_samples};
use super::expr::Value;

/// Why a query gave no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("cannot reach Prometheus at {address}: {message}")]
    Unreachable { address: String, message: String },
    #[error("Prometheus refused the query ({kind}): {message}")]
    Refused { kind: String, message: String },
    #[error("unexpected answer from Prometheus: {0}")]
    Answer(String),
}

/// A Prometheus server's query API.
#[derive(Clone, Debug)]
pub struct Prometheus {
    address: String,
    http: reqwest::Client,
}

/// How long one query may take; a slow Prometheus is an error, retried as errors are.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

impl Prometheus {
    /// # Errors
    ///
    /// When the HTTP client cannot be built (no TLS roots).
    pub fn new(address: &str) -> Result<Self, QueryError> {
        let http = reqwest::Client::builder()
            .timeout(QUERY_TIMEOUT)
            .build()
            .map_err(|e| QueryError::Unreachable {
                address: address.to_owned(),
                message: e.to_string(),
            })?;
        Ok(Self {
            address: address.trim_end_matches('/').to_owned(),
            http,
        })
    }

    #[must_use]
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Runs an instant query; returns the result and its text as shown in a measurement.
    ///
    /// # Errors
    ///
    /// Prometheus unreachable, the query refused (bad PromQL), or an answer of another shape.
    pub async fn query(&self, promql: &str) -> Result<(Value, String), QueryError> {
        let unreachable = |e: reqwest::Error| QueryError::Unreachable {
            address: self.address.clone(),
            message: e.without_url().to_string(),
        };
        let response = self
            .http
            .get(format!("{}/api/v1/query", self.address))
            .query(&[("query", promql)])
            .send()
            .await
            .map_err(unreachable)?;
        let body: Json = response.json().await.map_err(unreachable)?;
        parse(&body)
    }

    /// One measurement of `metric`, stamped with the time `now` gives before and after.
    pub async fn measure(&self, metric: &Metric, now: impl Fn() -> Millis) -> Measurement {
        let started_at = now();
        let measured = match self.query(&metric.query).await {
            Ok((value, shown)) => {
                let (phase, message) = assess(metric, &value);
                match (&metric.min_samples, phase) {
                    (Some(floor), Phase::Successful | Phase::Failed) => {
                        match self.query(&floor.query).await {
                            Ok((samples, _)) => {
                                let (phase, why) = with_samples(phase, metric, first(&samples));
                                (phase, shown, why.or(message))
                            }
                            Err(e) => (Phase::Error, shown, Some(format!("minSamples: {e}"))),
                        }
                    }
                    _ => (phase, shown, message),
                }
            }
            Err(e) => (Phase::Error, String::new(), Some(e.to_string())),
        };
        let (phase, value, message) = measured;
        Measurement {
            phase,
            started_at,
            finished_at: now(),
            value,
            message,
        }
    }
}

/// The first number of a result (a request count), NaN when there is none.
fn first(v: &Value) -> f64 {
    match v {
        Value::Float(x) => *x,
        Value::List(items) => items.first().map_or(f64::NAN, first),
        _ => f64::NAN,
    }
}

/// A sample value as Prometheus writes it: a string, `NaN`, `+Inf`, `-Inf` included.
fn sample(v: &Json) -> Result<f64, QueryError> {
    let text = v
        .get(1)
        .and_then(Json::as_str)
        .ok_or_else(|| QueryError::Answer(format!("a sample without a value: {v}")))?;
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        other => other
            .parse()
            .map_err(|_| QueryError::Answer(format!("sample value {other:?} is not a number"))),
    }
}

/// A query API answer → the result and its text (`0.5`, `[0.99,0.98]`).
///
/// # Errors
///
/// A refused query (with Prometheus's `errorType` and `error`) or another shape.
pub fn parse(body: &Json) -> Result<(Value, String), QueryError> {
    if body["status"] != "success" {
        return Err(QueryError::Refused {
            kind: body["errorType"].as_str().unwrap_or("unknown").to_owned(),
            message: body["error"].as_str().unwrap_or("no message").to_owned(),
        });
    }
    let data = &body["data"];
    let result = &data["result"];
    let samples: Vec<f64> = match data["resultType"].as_str() {
        Some("scalar") => {
            let x = sample(result)?;
            return Ok((Value::Float(x), show(x)));
        }
        Some("vector") => rows(result)?
            .iter()
            .map(|s| sample(&s["value"]))
            .collect::<Result<_, _>>()?,
        Some("matrix") => rows(result)?
            .iter()
            .flat_map(|s| s["values"].as_array().cloned().unwrap_or_default())
            .map(|p| sample(&p))
            .collect::<Result<_, _>>()?,
        other => {
            return Err(QueryError::Answer(format!(
                "result type {} is not supported (scalar, vector and matrix are)",
                other.unwrap_or("missing")
            )));
        }
    };
    let shown = format!(
        "[{}]",
        samples
            .iter()
            .map(|x| show(*x))
            .collect::<Vec<_>>()
            .join(",")
    );
    Ok((
        Value::List(samples.into_iter().map(Value::Float).collect()),
        shown,
    ))
}

fn rows(result: &Json) -> Result<&Vec<Json>, QueryError> {
    result
        .as_array()
        .ok_or_else(|| QueryError::Answer(format!("result is not a list: {result}")))
}

/// A value as Prometheus prints it.
fn show(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        x.to_string()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn answers_become_results_as_argo_reads_them() {
        let scalar = json!({"status": "success", "data": {"resultType": "scalar", "result": [1.7e9, "0.5"]}});
        assert_eq!(parse(&scalar), Ok((Value::Float(0.5), "0.5".into())));
        let vector = json!({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"a": "1"}, "value": [1.7e9, "0.99"]},
            {"metric": {"a": "2"}, "value": [1.7e9, "NaN"]}]}});
        let (v, shown) = parse(&vector).expect("vector");
        assert_eq!(shown, "[0.99,NaN]");
        assert!(matches!(&v, Value::List(items) if items.len() == 2));
        let empty = json!({"status": "success", "data": {"resultType": "vector", "result": []}});
        assert_eq!(parse(&empty), Ok((Value::List(vec![]), "[]".into())));
        let matrix = json!({"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {}, "values": [[1.0, "1"], [2.0, "+Inf"]]}]}});
        assert_eq!(parse(&matrix).expect("matrix").1, "[1,+Inf]");
        let refused =
            json!({"status": "error", "errorType": "bad_data", "error": "parse error at char 5"});
        assert_eq!(
            parse(&refused).expect_err("refused").to_string(),
            "Prometheus refused the query (bad_data): parse error at char 5"
        );
        let string =
            json!({"status": "success", "data": {"resultType": "string", "result": [1.0, "x"]}});
        assert!(parse(&string).is_err());
    }
}
