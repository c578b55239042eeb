//! The HTTP part the three forge clients share: JSON in and out, the token in the header each
//! forge expects, and an error that carries the forge's own message.

use std::fmt::Write as _;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::ForgeError;
use crate::core::secret::Secret;

/// Every forge call gives up after this long.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The most of an answer read: forge answers are small JSON documents.
const MAX_BODY: usize = 4 << 20;

pub(super) struct Http {
    forge: &'static str,
    api: String,
    token: Secret,
    client: reqwest::Client,
}

impl Http {
    pub(super) fn new(forge: &'static str, api: &str, token: Secret) -> Result<Self, ForgeError> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("gantry/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ForgeError::Transport {
                forge,
                method: "-",
                path: api.to_owned(),
                message: e.to_string(),
            })?;
        Ok(Self {
            forge,
            api: api.trim_end_matches('/').to_owned(),
            token,
            client,
        })
    }

    /// Sends `body` (JSON) to `path` with `query`; the answer's JSON (`null` when empty).
    pub(super) async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, ForgeError> {
        let verb: &'static str = match method {
            Method::GET => "GET",
            Method::POST => "POST",
            Method::PUT => "PUT",
            Method::PATCH => "PATCH",
            Method::DELETE => "DELETE",
            _ => "request",
        };
        let transport = |message: String| ForgeError::Transport {
            forge: self.forge,
            method: verb,
            path: path.to_owned(),
            message,
        };
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.api))
            .query(query);
        request = match self.forge {
            "github" => request
                .bearer_auth(self.token.expose())
                .header("Accept", "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28"),
            "gitlab" => request.header("PRIVATE-TOKEN", self.token.expose()),
            _ => request.header("Authorization", format!("token {}", self.token.expose())),
        };
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| transport(e.without_url().to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| transport(e.without_url().to_string()))?;
        if bytes.len() > MAX_BODY {
            return Err(transport(format!("answer larger than {MAX_BODY} bytes")));
        }
        let json: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned())
            })
        };
        if status.is_success() {
            return Ok(json);
        }
        Err(ForgeError::Api {
            forge: self.forge,
            method: verb,
            path: path.to_owned(),
            status: status.as_u16(),
            message: message_of(&json, status.canonical_reason().unwrap_or("error")),
        })
    }
}

/// The forge's own words from an error body: GitHub's `message` and `errors[].message`,
/// GitLab's `message` (a string, a list, or a map of field → problems) or `error`, Gitea's
/// `message`.
pub(super) fn message_of(json: &Value, fallback: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    match &json["message"] {
        Value::String(s) => parts.push(s.clone()),
        Value::Array(items) => parts.extend(items.iter().map(flat)),
        Value::Object(fields) => {
            parts.extend(fields.iter().map(|(k, v)| format!("{k} {}", flat(v))));
        }
        _ => {}
    }
    if let Some(errors) = json["errors"].as_array() {
        for e in errors {
            let said = e["message"].as_str().map_or_else(
                || {
                    [&e["field"], &e["code"]]
                        .iter()
                        .filter_map(|v| v.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                },
                str::to_owned,
            );
            if !said.is_empty() {
                parts.push(said);
            }
        }
    }
    if let Some(e) = json["error"].as_str() {
        parts.push(e.to_owned());
    }
    if let Value::String(text) = json
        && parts.is_empty()
    {
        parts.push(text.trim().to_owned());
    }
    if parts.is_empty() {
        fallback.to_owned()
    } else {
        parts.join(": ")
    }
}

fn flat(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(flat).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// A URL path segment: everything but unreserved characters percent-encoded (GitLab's project
/// path goes in one segment, `group%2Fname`).
pub(super) fn segment(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_forges_error_body_gives_its_message() {
        let github = json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom", "message": "A pull request already exists for shop:gantry/promote/web/prod."}], "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"});
        assert_eq!(
            message_of(&github, "x"),
            "Validation Failed: A pull request already exists for shop:gantry/promote/web/prod."
        );
        let missing = json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "field": "head", "code": "invalid"}]});
        assert_eq!(message_of(&missing, "x"), "Validation Failed: head invalid");
        assert_eq!(
            message_of(&json!({"message": "401 Unauthorized"}), "x"),
            "401 Unauthorized"
        );
        let gitlab = json!({"message": ["Another open merge request already exists for this source branch: !7"]});
        assert_eq!(
            message_of(&gitlab, "x"),
            "Another open merge request already exists for this source branch: !7"
        );
        let fields = json!({"message": {"title": ["can't be blank"]}});
        assert_eq!(message_of(&fields, "x"), "title can't be blank");
        assert_eq!(
            message_of(&json!({"error": "insufficient_scope"}), "x"),
            "insufficient_scope"
        );
        assert_eq!(message_of(&Value::Null, "Unauthorized"), "Unauthorized");
        assert_eq!(
            message_of(&json!("<html>bad gateway</html>"), "x"),
            "<html>bad gateway</html>"
        );
    }

    #[test]
    fn a_gitlab_project_path_is_one_segment() {
        assert_eq!(
            segment("shop/sub group/config"),
            "shop%2Fsub%20group%2Fconfig"
        );
        assert_eq!(segment("a-b_c.d~e"), "a-b_c.d~e");
    }
}
