//! The authorization flow of [`Client`]: answering a 401 challenge with Basic credentials or
//! a bearer token from the realm (anonymous, Basic, or an identity token exchanged with the
//! OAuth2 refresh-token grant), cached per host and scope.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::AUTHORIZATION;

use super::auth::{Challenge, Credentials, Secret};
use super::client::{Client, is_loopback, read_limited};
use super::error::RegistryError;

/// How rocforge-ci names itself to token services (the OAuth2 `client_id`).
const CLIENT_ID: &str = "rocforge-ci";

impl Client {
    pub(super) fn authorization(&self, host: &str, scope: Option<&str>) -> Option<String> {
        let state = self.state.lock().expect("state");
        if let Some(token) = scope.and_then(|s| state.tokens.get(host, s)) {
            return Some(format!("Bearer {}", token.expose()));
        }
        if state.basic_hosts.contains(host)
            && let Some(Some(Credentials::Basic { username, password })) =
                state.credentials.get(host)
        {
            return Some(basic_header(username, password));
        }
        None
    }

    pub(super) fn credentials_for(&self, host: &str) -> Option<Credentials> {
        if let Some(found) = self.state.lock().expect("state").credentials.get(host) {
            return found.clone();
        }
        // Credential helpers are programs; looked up once per host.
        let found = self.credentials.lookup(host);
        self.state
            .lock()
            .expect("state")
            .credentials
            .insert(host.to_owned(), found.clone());
        found
    }

    pub(super) async fn authenticate(
        &self,
        host: &str,
        scope: Option<&str>,
        challenge: Challenge,
        url: &str,
    ) -> Result<(), RegistryError> {
        let credentials = self.credentials_for(host);
        match challenge {
            Challenge::Basic => {
                if !matches!(credentials, Some(Credentials::Basic { .. })) {
                    return Err(RegistryError::Unauthorized {
                        url: url.to_owned(),
                        detail:
                            "the registry asks for a username and password and none are configured"
                                .into(),
                    });
                }
                self.state
                    .lock()
                    .expect("state")
                    .basic_hosts
                    .insert(host.to_owned());
                Ok(())
            }
            Challenge::Bearer {
                realm,
                service,
                scope: offered,
            } => {
                let scope = scope.map(str::to_owned).or(offered).unwrap_or_default();
                let token = self
                    .fetch_token(
                        &realm,
                        service.as_deref(),
                        &scope,
                        credentials.as_ref(),
                        url,
                    )
                    .await?;
                let (secret, lifetime) = token;
                self.state
                    .lock()
                    .expect("state")
                    .tokens
                    .put(host, &scope, secret, lifetime);
                Ok(())
            }
        }
    }

    pub(super) async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        credentials: Option<&Credentials>,
        url: &str,
    ) -> Result<(Secret, Duration), RegistryError> {
        let mut realm_url = reqwest::Url::parse(realm).map_err(|e| RegistryError::Protocol {
            url: url.to_owned(),
            detail: format!("token realm `{realm}`: {e}"),
        })?;
        let realm_host = realm_url.host_str().unwrap_or_default().to_owned();
        let realm_authority = match realm_url.port() {
            Some(p) => format!("{realm_host}:{p}"),
            None => realm_host.clone(),
        };
        let plain_ok =
            is_loopback(&realm_authority) || self.options.insecure.contains(&realm_authority);
        if realm_url.scheme() != "https" && !plain_ok {
            return Err(RegistryError::Protocol {
                url: url.to_owned(),
                detail: format!("token realm {realm} is not HTTPS; credentials are not sent there"),
            });
        }
        {
            let mut query = realm_url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            if !scope.is_empty() {
                query.append_pair("scope", scope);
            }
        }
        let shown = {
            let mut bare = realm_url.clone();
            bare.set_query(None);
            bare.to_string()
        };
        let request = match credentials {
            // An identity token (a refresh token from `docker login` or a credential helper) is
            // exchanged with the OAuth2 refresh-token grant: a form POST to the realm.
            Some(Credentials::IdentityToken(refresh)) => {
                let mut form = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh.expose()),
                    ("client_id", CLIENT_ID),
                ];
                form.extend(service.map(|s| ("service", s)));
                if !scope.is_empty() {
                    form.push(("scope", scope));
                }
                self.http.post(&shown).form(&form)
            }
            Some(Credentials::Basic { username, password }) => self
                .http
                .get(realm_url.clone())
                .header(AUTHORIZATION, basic_header(username, password)),
            None => self.http.get(realm_url.clone()),
        };
        self.state.lock().expect("state").token_requests += 1;
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_error(&shown, &e))?;
        match response.status() {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(RegistryError::Unauthorized {
                    url: shown,
                    detail: format!("the token service answered {}", response.status().as_u16()),
                });
            }
            s => {
                return Err(RegistryError::Protocol {
                    url: shown,
                    detail: format!("token service answered {}", s.as_u16()),
                });
            }
        }
        let bytes = read_limited(response, &shown, 1024 * 1024).await?;
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<u64>,
        }
        let parsed: TokenResponse =
            serde_json::from_slice(&bytes).map_err(|_| RegistryError::Protocol {
                url: shown.clone(),
                detail: "token response is not JSON".into(),
            })?;
        let token = parsed
            .token
            .or(parsed.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RegistryError::Protocol {
                url: shown.clone(),
                detail: "token response has no token".into(),
            })?;
        Ok((
            Secret::new(token),
            Duration::from_secs(parsed.expires_in.unwrap_or(60).max(1)),
        ))
    }
}

pub(super) fn basic_header(username: &str, password: &Secret) -> String {
    use base64::Engine as _;
    let pair = format!("{username}:{}", password.expose());
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_encodes_the_pair() {
        assert_eq!(
            basic_header("user", &Secret::new("pass")),
            "Basic dXNlcjpwYXNz"
        );
    }
}
